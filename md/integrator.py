"""What every integrator provides, and the two moves they are built from (kick and drift).

An integrator is a small frozen dataclass of parameters (``timestep_fs`` and, for a
thermostat, ``temperature_K`` …) whose methods delegate to the pure module-level functions
``init``, ``step`` and ``conserved_energy_eV`` of its file. The unit conversion eV/Å → Å/fs²
happens in :func:`kick` only (through ``State.acceleration``).

Integrators that can run in a batch (:func:`md.run_batch`) also split their step around its
one force call: ``begin_step(state) -> Pending`` and ``finish_step(pending, evaluation) ->
State`` (:class:`SplitStep`); their ``step`` is exactly begin → evaluate → finish, so a
system gets the same trajectory alone and in a batch.
"""
from __future__ import annotations

import math
from typing import Any, Dict, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor

from mlip.errors import ConfigError

from md.forcefield import Evaluation, ForceField, evaluate
from md.state import State


@runtime_checkable
class Integrator(Protocol):
    """The interface :func:`md.run` drives.

    Attributes:
        name: the ensemble name (``"nve"``, ``"langevin"``, ``"bussi"``, ``"nose-hoover"``).
        timestep_fs: time step, fs.
        shadow_applies: True when the dynamics is velocity Verlet on a Hamiltonian, so the
            shadow-Hamiltonian monitor is meaningful.
    """

    name: str
    timestep_fs: float
    shadow_applies: bool

    def init(self, state: State) -> State:
        """Attach the extended variables (thermostat, reservoir) to a fresh state."""

    def step(self, state: State, forcefield: ForceField, compute_stress: bool = False) -> State:
        """One time step; returns a new state."""

    def conserved_energy_eV(self, state: State) -> float:
        """The quantity this dynamics conserves (eV): H in NVE, H + thermostat energy in NVT."""

    def parameters(self) -> Dict[str, Any]:
        """Plain-data parameters (checkpoints check that a restart uses the same ones)."""

    def extended_to_dict(self, extended: Any) -> Dict[str, Tensor]:
        """Extended variables as a dict of tensors (for checkpoints)."""

    def extended_from_dict(self, data: Dict[str, Tensor]) -> Any:
        """Inverse of :meth:`extended_to_dict`."""


def check_positive(name: str, value: float, unit: str) -> float:
    """``value`` as float, or a ConfigError naming the parameter, its unit and the fix."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number ({unit}), got {value!r}") from None
    if not (value > 0.0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a finite number > 0 {unit}, got {value}")
    return value


def kick(velocities: Tensor, forces: Tensor, acceleration: Tensor, dt_fs: float) -> Tensor:
    """v + dt · F/m (Å/fs): forces eV/Å, ``acceleration`` the (n_atoms, 1) factor from State."""
    return torch.addcmul(velocities, forces, acceleration, value=dt_fs)


def drift(positions: Tensor, velocities: Tensor, dt_fs: float) -> Tensor:
    """r + dt · v (Å)."""
    return torch.add(positions, velocities, alpha=dt_fs)


class Pending(NamedTuple):
    """A time step between its two halves: everything before the force call is done.

    Attributes:
        state: the state the step started from, with what the first half changed (the
            generator it drew from, the extended variables) already replaced.
        system: the structure at the new positions (unwrapped, Å): what to evaluate.
        velocities: velocities waiting for the final kick, Å/fs.
        carry: whatever else the second half of this integrator needs (or None).
    """

    state: State
    system: Any
    velocities: Tensor
    carry: Any = None


def pending(state: State, positions: Tensor, velocities: Tensor, carry: Any = None) -> Pending:
    """The first half of a step ends at new ``positions`` (Å) with ``velocities`` (Å/fs) to kick."""
    return Pending(state, state.system._replace(positions=positions), velocities, carry)


def evaluate_pending(first: Pending, forcefield: ForceField, compute_stress: bool) -> Evaluation:
    """The one force call of a step: at the pending positions, with the state's neighbour cache."""
    return evaluate(forcefield, first.system, first.state.neighbors, compute_stress)


def finish_advance(first: Pending, result: Evaluation, timestep_fs: float, final_kick_fs: float) -> State:
    """The state one step later: the evaluation ``result`` at the pending positions, the
    pending velocities kicked by ``final_kick_fs`` (fs) with the new forces; step and time
    advanced by one step of ``timestep_fs`` fs."""
    state = first.state
    return state.replace(system=first.system,
                         velocities=kick(first.velocities, result.forces, state.acceleration, final_kick_fs),
                         forces=result.forces, potential_energy=result.energy, stress=result.stress,
                         neighbors=result.neighbors, step=state.step + 1, time_fs=state.time_fs + timestep_fs)


def advanced(state: State, positions: Tensor, velocities: Tensor, forcefield: ForceField,
             compute_stress: bool, timestep_fs: float, final_kick_fs: float) -> State:
    """The state one step later: forces and energy evaluated at the new ``positions``, then
    ``velocities`` kicked by ``final_kick_fs`` with the new forces; step and time advanced."""
    first = pending(state, positions, velocities)
    return finish_advance(first, evaluate_pending(first, forcefield, compute_stress), timestep_fs, final_kick_fs)


@runtime_checkable
class SplitStep(Protocol):
    """An integrator whose step splits around its one force call, so that a batch of systems
    can share that call (:func:`md.run_batch`). ``step`` must equal
    ``finish_step(p, evaluate_pending(p, forcefield, compute_stress))`` with
    ``p = begin_step(state)``. An integrator whose second half needs the stress at every
    step (a barostat) says so with a class attribute ``needs_stress = True``; a batch then
    asks the force field for it every step."""

    def begin_step(self, state: State) -> Pending:
        """Everything before the force call; draws from a clone of ``state.rng``."""

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        """Everything after it: the new state from the evaluation at ``first.system``."""


def supports_batch(integrator: Any) -> bool:
    """True when ``integrator`` can run in a batch (it implements :class:`SplitStep`)."""
    return isinstance(integrator, SplitStep)


def clone_generator(rng: torch.Generator) -> torch.Generator:
    """A copy of ``rng`` in the same state (drawing from it leaves ``rng`` untouched)."""
    copy = torch.Generator(device=rng.device)
    copy.set_state(rng.get_state())
    return copy
