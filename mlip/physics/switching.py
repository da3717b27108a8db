"""Smooth switching functions (dimensionless) used by baselines and the Coulomb damping.

    S(x) = x³ (10 − 15 x + 6 x²),  x clamped to [0, 1]

S(0) = 0, S(1) = 1 and S', S'' vanish at both ends (C²), so energies switched with it have
continuous forces and continuous force derivatives.

Example:
    >>> import torch
    >>> switch_on(torch.tensor([0.0, 1.0, 2.0, 3.0]), 1.0, 3.0).tolist()
    [0.0, 0.0, 0.5, 1.0]
"""
from __future__ import annotations

import torch
from torch import Tensor


def smoothstep(x: Tensor) -> Tensor:
    """C² quintic step: 0 for x <= 0, 1 for x >= 1."""
    x = torch.clamp(x, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


def switch_on(r: Tensor, r_on: float, r_off: float) -> Tensor:
    """0 for r <= r_on, 1 for r >= r_off, C²-smooth between (r in Å, r_on < r_off)."""
    return smoothstep((r - r_on) / (r_off - r_on))


def switch_off(r: Tensor, r_on: float, r_off: float) -> Tensor:
    """1 for r <= r_on, 0 for r >= r_off, C²-smooth between (r in Å, r_on < r_off)."""
    return 1.0 - switch_on(r, r_on, r_off)
