"""The immutable MD state and the quantities derived from it.

Units: positions Å (unwrapped: atoms are never folded back into the cell during a run),
velocities Å/fs, masses amu, forces eV/Å, energies eV, time fs, stress eV/Å^3.

Every integrator ``step`` returns a *new* :class:`State`; no tensor held by a state is ever
modified in place, so older states (kept by the shadow monitor, or by the driver as the last
good frame) stay valid.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from mlip import units
from mlip.types import System

from md.neighbor_cache import NeighborState


def acceleration_factor(masses_amu: Tensor, fixed: Optional[Tensor]) -> Tensor:
    """Per-atom factor (n_atoms, 1) turning a force in eV/Å into an acceleration in Å/fs².

    Zero for fixed atoms, so a kick never moves them.
    """
    factor = (units.EV_PER_A_AMU_IN_A_PER_FS2 / masses_amu).unsqueeze(1)
    if fixed is not None:
        factor = factor.masked_fill(fixed.unsqueeze(1), 0.0)
    return factor


@dataclass(frozen=True)
class State:
    """Everything an MD step needs and produces (one structure; positions unwrapped).

    Attributes:
        system: the structure; ``system.positions`` (n_atoms, 3) are UNWRAPPED, Å.
            ``system.total_charge`` (shape (1,), e, or None = neutral) is the total charge the
            force field sees at every step (models with learned charges conserve it exactly);
            see :attr:`total_charge_e`.
        masses: (n_atoms,) atomic masses, amu.
        velocities: (n_atoms, 3) Å/fs (zero for fixed atoms).
        forces: (n_atoms, 3) forces at ``system.positions``, eV/Å (as computed, also on fixed
            atoms; fixed atoms simply never accelerate).
        potential_energy: 0-d tensor, eV.
        step: number of steps taken since the start of the trajectory.
        time_fs: simulated time, fs.
        rng: the only source of randomness; stochastic steps clone it before drawing, so a
            state's generator is never advanced behind its back.
        neighbors: neighbour-list cache (edges built with a skin; see ``md.neighbor_cache``).
        fixed: (n_atoms,) bool mask of atoms held in place, or None.
        constrained_dof: degrees of freedom removed from the kinetic energy (3 when the
            centre-of-mass momentum is zero and conserved, else 0).
        stress: (3, 3) potential stress eV/Å^3 (ASE sign convention) when it was computed at
            this step, else None.
        extended: the integrator's extended variables (a NamedTuple of tensors, e.g. a
            thermostat's reservoir energy) or None for plain velocity Verlet.
        acceleration: (n_atoms, 1) derived factor eV/Å -> Å/fs² (0 for fixed atoms); filled in
            automatically.
    """

    system: System
    masses: Tensor
    velocities: Tensor
    forces: Tensor
    potential_energy: Tensor
    step: int
    time_fs: float
    rng: torch.Generator
    neighbors: NeighborState
    fixed: Optional[Tensor] = None
    constrained_dof: int = 0
    stress: Optional[Tensor] = None
    extended: Any = None
    acceleration: Optional[Tensor] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.acceleration is None:
            object.__setattr__(self, "acceleration", acceleration_factor(self.masses, self.fixed))

    @property
    def positions(self) -> Tensor:
        """Unwrapped positions (n_atoms, 3), Å."""
        return self.system.positions

    @property
    def total_charge_e(self) -> float:
        """Total charge of the structure, e (0.0 when none was stated: neutral)."""
        q = self.system.total_charge
        return 0.0 if q is None else float(q.sum())

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.masses.shape[0])

    def replace(self, **changes: Any) -> "State":
        """A copy with some fields replaced (the state itself is immutable).

        Cheaper than ``dataclasses.replace`` (called twice per MD step): copies the field
        dict; the derived ``acceleration`` is recomputed when masses or fixed atoms change.
        """
        unknown = set(changes) - _FIELD_NAMES
        if unknown:
            raise TypeError(f"State has no field(s) {sorted(unknown)}")
        new = object.__new__(State)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        if ("masses" in changes or "fixed" in changes) and "acceleration" not in changes:
            new.__dict__["acceleration"] = acceleration_factor(new.masses, new.fixed)
        return new


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(State))


def kinetic_energy_eV(state: State) -> Tensor:
    """Kinetic energy ½ Σ m v² (0-d tensor), eV."""
    return units.kinetic_energy_eV(state.masses, state.velocities)


def degrees_of_freedom(state: State) -> int:
    """Number of kinetic degrees of freedom: 3 per free atom minus ``constrained_dof``."""
    n_free = state.n_atoms if state.fixed is None else state.n_atoms - int(state.fixed.sum())
    return max(3 * n_free - state.constrained_dof, 0)


def temperature_K(state: State) -> float:
    """Instantaneous kinetic temperature 2 KE / (N_dof k_B), K."""
    return units.temperature_K(float(kinetic_energy_eV(state)), degrees_of_freedom(state))


def volume_A3(state: State) -> Optional[float]:
    """Cell volume in Å^3 when the structure is periodic in all three directions, else None."""
    if not bool(state.system.pbc.all()):
        return None
    return abs(float(torch.linalg.det(state.system.cell[0].double())))


def pressure_GPa(state: State) -> Optional[float]:
    """Instantaneous pressure (2 KE / 3V − tr(stress) / 3), GPa; None without a full cell or
    when the stress was not computed at this step."""
    volume = volume_A3(state)
    if volume is None or state.stress is None:
        return None
    kinetic = 2.0 * float(kinetic_energy_eV(state)) / (3.0 * volume)
    virial = -float(torch.diagonal(state.stress).sum()) / 3.0
    return (kinetic + virial) * units.EV_PER_A3_IN_GPA


def max_force_eV_per_A(state: State) -> float:
    """Largest force norm on a free atom, eV/Å."""
    norms = torch.linalg.norm(state.forces, dim=1)
    if state.fixed is not None:
        norms = norms.masked_fill(state.fixed, 0.0)
    return float(norms.max())
