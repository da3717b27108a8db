"""Velocity Verlet (NVE): symplectic, time-reversible, second order.

Equations (h = ``timestep_fs``, a = F/m):

    v(t + h/2) = v(t) + (h/2) a(t)
    r(t + h)   = r(t) + h v(t + h/2)
    a(t + h)   = F(r(t + h)) / m
    v(t + h)   = v(t + h/2) + (h/2) a(t + h)

Conserved quantity: H = K + U (to O(h²) fluctuations); the shadow Hamiltonian H̃ is
conserved far more tightly (see :mod:`md.shadow`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

from md.forcefield import Evaluation, ForceField
from md.integrator import Pending, check_positive, drift, evaluate_pending, finish_advance, kick, pending
from md.state import State, kinetic_energy_eV


def init(state: State) -> State:
    """Plain velocity Verlet has no extended variables."""
    return state.replace(extended=None)


def begin_step(state: State, timestep_fs: float) -> Pending:
    """Half kick and drift (fs): the step up to its force call."""
    h = timestep_fs
    v_half = kick(state.velocities, state.forces, state.acceleration, 0.5 * h)
    return pending(state, drift(state.positions, v_half, h), v_half)


def finish_step(first: Pending, result: Evaluation, timestep_fs: float) -> State:
    """The second half kick with the forces ``result`` at the new positions (fs)."""
    return finish_advance(first, result, timestep_fs, 0.5 * timestep_fs)


def step(state: State, forcefield: ForceField, timestep_fs: float,
         compute_stress: bool = False) -> State:
    """One velocity-Verlet step of ``timestep_fs`` fs (one force evaluation)."""
    first = begin_step(state, timestep_fs)
    return finish_step(first, evaluate_pending(first, forcefield, compute_stress), timestep_fs)


def conserved_energy_eV(state: State) -> float:
    """Total energy K + U, eV."""
    return float(kinetic_energy_eV(state) + state.potential_energy)


@dataclass(frozen=True)
class VelocityVerlet:
    """Microcanonical (NVE) dynamics. Parameter: ``timestep_fs`` (fs, > 0)."""

    timestep_fs: float
    name = "nve"
    shadow_applies = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestep_fs", check_positive("timestep_fs", self.timestep_fs, "fs"))

    def init(self, state: State) -> State:
        return init(state)

    def step(self, state: State, forcefield: ForceField, compute_stress: bool = False) -> State:
        return step(state, forcefield, self.timestep_fs, compute_stress)

    def begin_step(self, state: State) -> Pending:
        return begin_step(state, self.timestep_fs)

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        return finish_step(first, result, self.timestep_fs)

    def conserved_energy_eV(self, state: State) -> float:
        return conserved_energy_eV(state)

    def parameters(self) -> Dict[str, Any]:
        return {"ensemble": self.name, "timestep_fs": self.timestep_fs}

    def extended_to_dict(self, extended: Any) -> Dict[str, Any]:
        return {}

    def extended_from_dict(self, data: Dict[str, Any]) -> Any:
        return None
