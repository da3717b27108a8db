"""Checks that stop an unstable run with a diagnosis (non-finite forces, flying atoms,
exploding energy) and, optionally, a committee force field whose members disagree too much."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from mlip.validation import chemical_symbol

from md.integrator import check_positive
from md.neighbor_cache import squared_lengths


@dataclass(frozen=True)
class StabilityLimits:
    """When a step counts as unstable.

    Attributes:
        max_displacement_A: largest distance an atom may move in one step, Å (atoms at
            thermal speeds move ~0.01–0.1 Å per fs).
        max_energy_change_eV_per_atom: largest change of the conserved energy since the
            start of the run, eV/atom.
        energy_check_interval: check the conserved energy every this many steps (forces,
            energy and displacements are checked every step).
        max_forces_std_eV_per_A: stop when the committee's largest per-atom force spread
            (see :mod:`md.committee_spread`) exceeds this, eV/Å, checked every
            ``energy_check_interval`` steps; None (default) never checks. Only for committee
            force fields (``committee_size`` > 1); each check costs about one more force
            evaluation per member.
    """

    max_displacement_A: float = 1.0
    max_energy_change_eV_per_atom: float = 1.0
    energy_check_interval: int = 10
    max_forces_std_eV_per_A: Optional[float] = None

    def __post_init__(self) -> None:
        check_positive("max_displacement_A", self.max_displacement_A, "Å")
        check_positive("max_energy_change_eV_per_atom", self.max_energy_change_eV_per_atom, "eV/atom")
        check_positive("energy_check_interval", self.energy_check_interval, "steps")
        if self.max_forces_std_eV_per_A is not None:
            check_positive("max_forces_std_eV_per_A", self.max_forces_std_eV_per_A, "eV/Å")


_FIX = ("reduce timestep_fs, check the structure for overlapping atoms, and check that the "
        "force field is valid for this chemistry")


def _atom(state, i: int) -> str:
    return f"atom {i} ({chemical_symbol(int(state.system.atomic_numbers[i]))})"


def check_step(previous, new, timestep_fs: float, limits: StabilityLimits,
               conserved_eV: Optional[float] = None, reference_eV: Optional[float] = None) -> Optional[str]:
    """A diagnosis if the step ``previous`` → ``new`` is unstable, else None.

    One synchronising reduction in the common case; the detailed diagnosis is only worked
    out when something is wrong. The conserved energy is compared with ``reference_eV``
    when ``conserved_eV`` is given.
    """
    where = f"step {previous.step} -> {new.step} (t = {new.time_fs:.6g} fs)"
    step = new.positions - previous.positions
    force_sum, energy, largest = torch.stack(
        [new.forces.sum(), new.potential_energy.to(step.dtype), step.abs().max()]).tolist()
    if not math.isfinite(force_sum):
        i = int(torch.nonzero(~torch.isfinite(new.forces).all(dim=1))[0])
        return (f"{where}: the force on {_atom(new, i)} is not finite ({new.forces[i].tolist()} eV/Å); "
                f"{_FIX}")
    if not math.isfinite(energy):
        return f"{where}: the potential energy is not finite ({energy} eV); {_FIX}"
    if not largest * math.sqrt(3.0) <= limits.max_displacement_A:  # |d| <= √3 max|d_k|: exact test only if needed
        moved2 = squared_lengths(step)
        i = int(torch.argmax(moved2))
        distance = math.sqrt(float(moved2[i]))
        if not distance <= limits.max_displacement_A:
            return (f"{where}: {_atom(new, i)} moved {distance:.3g} Å in one step of {timestep_fs:g} fs "
                    f"(limit {limits.max_displacement_A:g} Å; largest force "
                    f"{float(new.forces.norm(dim=1).max()):.3g} eV/Å): the dynamics is unstable; {_FIX}")
    if conserved_eV is not None:
        change = abs(conserved_eV - reference_eV) / new.n_atoms
        if not change <= limits.max_energy_change_eV_per_atom:
            return (f"{where}: the conserved energy changed by {change:.3g} eV/atom since the run started "
                    f"(limit {limits.max_energy_change_eV_per_atom:g} eV/atom): the energy is exploding; {_FIX}")
    return None


def check_spread(new, spread, limits: StabilityLimits) -> Optional[str]:
    """A diagnosis if the committee spread at ``new`` (a :class:`md.committee_spread.Spread`)
    exceeds ``limits.max_forces_std_eV_per_A``, else None."""
    limit = limits.max_forces_std_eV_per_A
    if limit is None or spread.max_forces_std_eV_per_A <= limit:
        return None
    return (f"step {new.step} (t = {new.time_fs:.6g} fs): the committee disagrees: the force spread on "
            f"{_atom(new, spread.atom_index)} is {spread.max_forces_std_eV_per_A:.3g} eV/Å (limit "
            f"max_forces_std_eV_per_A = {limit:g} eV/Å; energy spread {spread.energy_std_eV:.3g} eV), so the "
            "structure is outside what the potential was trained on and its forces cannot be trusted; add "
            "structures like this one to the training set and retrain, or raise the limit")
