"""Build the first :class:`md.State` of a run from a structure and a force field."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from mlip.ase_bridge import system_from_atoms
from mlip.errors import ConfigError, InvalidSystemError
from mlip.types import System
from mlip.validation import validate_system

from md import neighbor_cache
from md.forcefield import ForceField, check_is_forcefield, evaluate, known_atomic_numbers
from md.maxwell_boltzmann import maxwell_boltzmann_velocities
from md.state import State

#: Default Verlet skin, Å.
DEFAULT_SKIN_A = 0.5


def make_generator(seed: Union[int, torch.Generator], device: Union[str, torch.device] = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (or ``seed`` itself)."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer or a torch.Generator, got {seed!r}")
    return torch.Generator(device=device).manual_seed(int(seed))


def fixed_mask(fixed: Union[None, Sequence[int], Tensor], n_atoms: int, device) -> Optional[Tensor]:
    """A (n_atoms,) bool mask from atom indices or a mask; None when no atom is fixed."""
    if fixed is None:
        return None
    fixed_t = torch.as_tensor(fixed, device=device)
    if fixed_t.dtype == torch.bool:
        if fixed_t.shape != (n_atoms,):
            raise ConfigError(f"a fixed-atom mask must have shape ({n_atoms},), got {tuple(fixed_t.shape)}")
        mask = fixed_t.clone()
    else:
        if fixed_t.numel() and (int(fixed_t.min()) < 0 or int(fixed_t.max()) >= n_atoms):
            raise ConfigError(f"fixed atom indices must lie in [0, {n_atoms}), got {fixed_t.tolist()}")
        mask = torch.zeros(n_atoms, dtype=torch.bool, device=device)
        mask[fixed_t.long()] = True
    return mask if bool(mask.any()) else None


def initial_state(structure, forcefield: ForceField, temperature_K: float = 0.0,
                  seed: Union[int, torch.Generator] = 0, masses_amu: Optional[Tensor] = None,
                  velocities_A_per_fs: Optional[Tensor] = None,
                  fixed: Union[None, Sequence[int], Tensor] = None, skin_A: float = DEFAULT_SKIN_A,
                  remove_com: bool = True, dtype: torch.dtype = torch.float64,
                  device: Union[str, torch.device] = "cpu",
                  neighbor_backend: str = "auto", total_charge_e: Optional[float] = None) -> State:
    """Positions, Maxwell–Boltzmann velocities at ``temperature_K`` and the first forces.

    Args:
        structure: an ``ase.Atoms`` (masses taken from it) or a one-structure ``System``.
        forcefield: see :mod:`md.forcefield`.
        temperature_K: temperature of the initial velocities, K (>= 0).
        seed: integer seed or a ``torch.Generator``; the state's generator is the only source
            of randomness of the run.
        masses_amu: (n_atoms,) masses, amu (default: from the structure / standard masses).
        velocities_A_per_fs: explicit (n_atoms, 3) initial velocities, Å/fs (overrides
            ``temperature_K``; fixed atoms are zeroed).
        fixed: indices or a bool mask of atoms held in place.
        skin_A: Verlet skin of the neighbour-list cache, Å.
        remove_com: remove the centre-of-mass velocity (and count 3 fewer degrees of freedom
            when momentum is conserved: no fixed atoms and a translation-invariant force field).
        dtype: floating-point type of the state (float64 by default).
        device: torch device of the state.
        neighbor_backend: backend of :func:`mlip.neighbor_list.neighbor_list` ("auto": the
            native cell list when the op library is loaded, else matscipy; same edges either way).
        total_charge_e: total charge of the structure, e (overrides the structure's own: an
            ``ase.Atoms``' ``info["total_charge"]`` / ``info["charge"]`` / initial charges, or a
            ``System``'s ``total_charge``); None keeps the structure's (neutral if none is
            stated). Only force fields with charges (learned Coulomb) read it; it is carried in
            ``state.system.total_charge`` through every step and checkpoint.
    """
    check_is_forcefield(forcefield)
    system = _as_system(structure, dtype, device)
    if total_charge_e is not None:
        system = system._replace(total_charge=_total_charge(total_charge_e, dtype, system.positions.device))
    validate_system(system, known_atomic_numbers(forcefield))
    if system.cell.shape[0] != 1:
        raise InvalidSystemError(
            f"a state holds one structure, got a batch of {system.cell.shape[0]}; make one state per "
            "structure and run them together with md.run_batch")
    n_atoms = system.positions.shape[0]
    masses = _masses(structure, system, masses_amu, dtype)
    mask = fixed_mask(fixed, n_atoms, system.positions.device)
    rng = make_generator(seed, system.positions.device)
    if velocities_A_per_fs is not None:
        velocities = torch.as_tensor(velocities_A_per_fs, dtype=dtype, device=system.positions.device).clone()
        if velocities.shape != (n_atoms, 3):
            raise ConfigError(f"velocities_A_per_fs must have shape ({n_atoms}, 3), got {tuple(velocities.shape)}")
        if mask is not None:
            velocities = velocities.masked_fill(mask.unsqueeze(1), 0.0)
    else:
        velocities = maxwell_boltzmann_velocities(masses, temperature_K, rng, mask, remove_com, dtype)
    momentum_conserved = mask is None and bool(getattr(forcefield, "conserves_momentum", True))
    constrained = 3 if (remove_com and momentum_conserved and n_atoms > 1) else 0
    neighbors = neighbor_cache.build(system, float(forcefield.cutoff), skin_A, 0, neighbor_backend)
    result = evaluate(forcefield, system, neighbors, compute_stress=bool(system.pbc.all()))
    return State(system=system, masses=masses, velocities=velocities, forces=result.forces,
                 potential_energy=result.energy, step=0, time_fs=0.0, rng=rng,
                 neighbors=result.neighbors, fixed=mask, constrained_dof=constrained,
                 stress=result.stress)


def _total_charge(total_charge_e, dtype, device) -> Tensor:
    if isinstance(total_charge_e, bool) or not isinstance(total_charge_e, (int, float, np.integer, np.floating)) \
            or not np.isfinite(float(total_charge_e)):
        raise ConfigError(f"total_charge_e must be a finite number (e), got {total_charge_e!r}")
    return torch.tensor([float(total_charge_e)], dtype=dtype, device=device)


def _as_system(structure, dtype, device) -> System:
    if isinstance(structure, System):
        charge = structure.total_charge
        return structure._replace(positions=structure.positions.detach().to(device=device, dtype=dtype).clone(),
                                  atomic_numbers=structure.atomic_numbers.to(device),
                                  cell=structure.cell.to(device=device, dtype=dtype), pbc=structure.pbc.to(device),
                                  system_index=structure.system_index.to(device),
                                  total_charge=None if charge is None else charge.to(device=device, dtype=dtype))
    try:
        import ase
    except ImportError as error:  # pragma: no cover - ase is a hard dependency
        raise ConfigError("reading structures needs ase") from error
    if not isinstance(structure, ase.Atoms):
        raise ConfigError(f"structure must be an ase.Atoms or an mlip System, got {type(structure).__name__}")
    return system_from_atoms(structure, dtype=dtype, device=device)


def _masses(structure, system: System, masses_amu, dtype) -> Tensor:
    device = system.positions.device
    if masses_amu is not None:
        masses = torch.as_tensor(masses_amu, dtype=dtype, device=device).clone()
    elif isinstance(structure, System):
        from ase.data import atomic_masses

        masses = torch.as_tensor(atomic_masses[system.atomic_numbers.cpu().numpy()], dtype=dtype, device=device)
    else:
        masses = torch.as_tensor(structure.get_masses(), dtype=dtype, device=device)
    if masses.shape != (system.positions.shape[0],) or not bool((masses > 0).all()):
        raise ConfigError("masses_amu must be (n_atoms,) positive masses in amu")
    return masses
