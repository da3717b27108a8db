"""Instantaneous pressure tensor, and what a constant-pressure run needs from its state.

With σ the potential stress (eV/Å^3, ASE sign convention: negative under compression) and
V the cell volume (Å^3), the instantaneous pressure tensor and pressure are

    P_αβ = (Σ_i m_i v_iα v_iβ) / V − σ_αβ           (eV/Å^3)
    P    = tr(P) / 3 = 2K / (3V) − tr(σ) / 3

(the kinetic term uses every velocity; with the centre-of-mass momentum removed it is zero
anyway). Barostats read P from here; :func:`md.state.pressure_GPa` reports the same P in GPa.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

from md.state import State


def pressure_GPa_to_eV_per_A3(pressure_GPa: float) -> float:
    """A pressure in GPa as eV/Å^3 (1 eV/Å^3 ≈ 160.2 GPa)."""
    return float(pressure_GPa) / units.EV_PER_A3_IN_GPA


def check_pressure_GPa(pressure_GPa: float) -> float:
    """``pressure_GPa`` as a finite float (GPa; negative = tension is allowed), or a ConfigError."""
    try:
        value = float(pressure_GPa)
    except (TypeError, ValueError):
        raise ConfigError(f"pressure_GPa must be a number (GPa), got {pressure_GPa!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"pressure_GPa must be a finite number of GPa, got {value}")
    return value


def cell_volume_A3(cell: Tensor) -> Tensor:
    """|det(cell)| of a (3, 3) cell (rows are lattice vectors, Å), Å^3, as a 0-d float64 tensor."""
    return torch.linalg.det(cell.double()).abs()


def kinetic_tensor_eV(masses_amu: Tensor, velocities_A_per_fs: Tensor) -> Tensor:
    """Σ_i m_i v_i ⊗ v_i (3, 3) in eV (twice the kinetic-energy tensor), float64."""
    v = velocities_A_per_fs.double()
    return units.AMU_A2_PER_FS2_IN_EV * (v * masses_amu.double().unsqueeze(1)).T @ v


def pressure_tensor_eV_per_A3(state: State) -> Tensor:
    """The instantaneous pressure tensor P (3, 3), eV/Å^3 (float64); needs ``state.stress``."""
    if state.stress is None:
        raise ConfigError("the pressure needs the stress, but this state has none: evaluate it with "
                          "compute_stress=True (constant-pressure integrators do so at every step)")
    volume = cell_volume_A3(state.system.cell[0])
    return kinetic_tensor_eV(state.masses, state.velocities) / volume - state.stress.double()
