"""Maxwell–Boltzmann initial velocities, drawn from an explicit ``torch.Generator``."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError


def maxwell_boltzmann_velocities(masses_amu: Tensor, temperature_K: float,
                                 rng: torch.Generator, fixed: Optional[Tensor] = None,
                                 remove_com: bool = True, dtype: torch.dtype = torch.float64) -> Tensor:
    """Velocities (n_atoms, 3) in Å/fs drawn from the Maxwell–Boltzmann distribution.

    Each Cartesian component of a free atom is normal with variance k_B T / m. Fixed atoms get
    zero velocity. With ``remove_com`` (and no fixed atoms) the mass-weighted mean velocity is
    subtracted, so the centre of mass does not drift.

    Args:
        masses_amu: (n_atoms,) masses, amu.
        temperature_K: temperature, K (>= 0).
        rng: the generator to draw from (advanced by this call; the global RNG is never used).
        fixed: optional (n_atoms,) bool mask of atoms held in place.
        remove_com: subtract the centre-of-mass velocity.
        dtype: floating-point type of the result.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> masses = torch.full((100,), 40.0, dtype=torch.float64)
        >>> v = maxwell_boltzmann_velocities(masses, 300.0, g)
        >>> v.shape, bool((masses @ v).abs().max() < 1e-12)   # zero total momentum
        (torch.Size([100, 3]), True)
    """
    if not (temperature_K >= 0.0 and math.isfinite(temperature_K)):
        raise ConfigError(f"temperature_K must be a finite number >= 0 K, got {temperature_K}")
    masses = masses_amu.to(dtype)
    if not bool((masses > 0).all()):
        raise ConfigError("all masses must be > 0 amu to draw Maxwell–Boltzmann velocities")
    n_atoms = masses.shape[0]
    kT_eV = units.BOLTZMANN_EV_PER_K * temperature_K
    sigma = torch.sqrt(kT_eV / (masses * units.AMU_A2_PER_FS2_IN_EV)).unsqueeze(1)
    noise = torch.randn((n_atoms, 3), generator=rng, dtype=dtype, device=rng.device)
    velocities = (noise.to(masses.device) * sigma)
    if fixed is not None and bool(fixed.any()):
        return velocities.masked_fill(fixed.unsqueeze(1), 0.0)
    if remove_com and n_atoms > 1:
        com = (masses.unsqueeze(1) * velocities).sum(dim=0) / masses.sum()
        velocities = velocities - com
    return velocities
