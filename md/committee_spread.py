"""How much the members of a committee force field disagree at an MD state.

A force field opts in by declaring ``committee_size`` (an int > 1) and accepting the keyword
``compute_spread=True`` in its call; it then fills ``Prediction.energy_std`` ((n_systems,)
population standard deviation of the members' energies, eV) and ``Prediction.forces_std``
((n_atoms,) sqrt(Σ_xyz var_members(F_i)), eV/Å). A saved mlip committee Potential does; md
never imports it. The spread costs about one more force evaluation per member, so md asks for
it only at the steps it logs (thermo rows) or checks (``StabilityLimits.max_forces_std_eV_per_A``),
at the positions of the state already integrated: the trajectory is the same with and without it.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from mlip.errors import SimulationError

from md import neighbor_cache
from md.forcefield import in_forcefield_dtype


class Spread(NamedTuple):
    """Committee spread at one state.

    Attributes:
        energy_std_eV: standard deviation of the members' total potential energies, eV.
        forces_std: (n_atoms,) per-atom force spread sqrt(Σ_xyz var(F_i)), eV/Å.
        max_forces_std_eV_per_A: the largest per-atom force spread, eV/Å.
        atom_index: the atom with that largest spread.
    """

    energy_std_eV: float
    forces_std: Tensor
    max_forces_std_eV_per_A: float
    atom_index: int


def has_spread(forcefield) -> bool:
    """True when the force field is a committee that can report its spread."""
    size = getattr(forcefield, "committee_size", 1)
    return isinstance(size, int) and not isinstance(size, bool) and size > 1


def spread_at(forcefield, state) -> Spread:
    """The committee spread at ``state.system.positions`` (edges from the state's neighbour
    cache, which is valid at those positions). Raises SimulationError if the force field
    declares a committee but returns no spread."""
    edges = neighbor_cache.within_cutoff(state.neighbors, state.system)
    prediction = forcefield(in_forcefield_dtype(forcefield, state.system), edges, False, compute_spread=True)
    energy_std, forces_std = prediction.energy_std, prediction.forces_std
    if energy_std is None or forces_std is None:
        raise SimulationError(
            f"{type(forcefield).__name__} declares committee_size={forcefield.committee_size} but returned no "
            "energy_std/forces_std for compute_spread=True; fill both in the Prediction (or declare "
            "committee_size=1)")
    forces_std = forces_std.detach().to(state.positions.dtype).reshape(-1)
    if forces_std.shape[0] != state.n_atoms:
        raise SimulationError(f"the force field returned forces_std of shape {tuple(forces_std.shape)} for "
                              f"{state.n_atoms} atoms; it must return one value per atom (eV/Å)")
    largest, index = torch.stack([forces_std.max(), forces_std.argmax().to(forces_std.dtype)]).tolist()
    return Spread(float(energy_std.detach().sum()), forces_std, largest, int(index))
