"""The one MD driver loop: ``state = run(state, forcefield, integrator, n_steps, reporters)``."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from mlip.errors import ConfigError, InvalidSystemError, SimulationError
from mlip.validation import validate_system

from md.committee_spread import has_spread, spread_at
from md.forcefield import ForceField, check_is_forcefield, known_atomic_numbers
from md.integrator import Integrator
from md.reporters.base import Reporter, RunContext
from md.stability import StabilityLimits, check_spread, check_step
from md.state import State


def run(state: State, forcefield: ForceField, integrator: Integrator, n_steps: int,
        reporters: Sequence[Reporter] = (), limits: Optional[StabilityLimits] = None) -> State:
    """Advance ``state`` by ``n_steps`` steps of ``integrator`` and return the final state.

    Reporters are called every ``reporter.interval`` steps (see :mod:`md.reporters.base`);
    a fresh state (``extended is None``) is initialised for the integrator first. After each
    step the run is checked (non-finite forces or energy, an atom moving more than
    ``limits.max_displacement_A`` Å; every ``limits.energy_check_interval`` steps the conserved
    energy changing by more than ``limits.max_energy_change_eV_per_atom`` eV/atom since the
    start, and, if ``limits.max_forces_std_eV_per_A`` is set, a committee's largest per-atom
    force spread exceeding it): on failure every reporter keeps the
    last good state (trajectory frame, checkpoint) and a :class:`mlip.errors.SimulationError`
    names the problem, the fix and the files written.

    Args:
        state: the starting state (positions unwrapped, Å; velocities Å/fs).
        forcefield: see :mod:`md.forcefield`.
        integrator: e.g. ``md.VelocityVerlet(timestep_fs=1.0)``.
        n_steps: number of steps (>= 0).
        reporters: output and monitoring (thermo CSV, trajectories, energy monitor, ...).
        limits: stability limits (defaults: 1 Å per step, 1 eV/atom).

    Example:
        >>> import ase.build, md
        >>> atoms = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True)
        >>> lj = md.LennardJones(epsilon_eV=0.0104, sigma_A=3.40, cutoff_A=8.0)
        >>> s = md.initial_state(atoms, lj, temperature_K=50.0, seed=1)
        >>> s = md.run(s, lj, md.VelocityVerlet(timestep_fs=5.0), n_steps=10)
        >>> s.step, s.time_fs
        (10, 50.0)
    """
    check_steps(n_steps)
    state, ordered, limits = prepare(state, forcefield, integrator, reporters, limits)
    context = RunContext(integrator, forcefield, ordered, state.step, state.step + n_steps)
    reference_eV = integrator.conserved_energy_eV(state)
    for reporter in ordered:
        reporter.start(state, context)
    try:
        for _ in range(n_steps):
            new = integrator.step(state, forcefield, wants_stress(ordered, state.step + 1))
            problem = step_problem(state, new, forcefield, integrator, limits, reference_eV)
            if problem is not None:
                raise stop(ordered, state, context, problem)
            state = new
            report(ordered, state, context)
    finally:
        for reporter in reversed(ordered):
            reporter.finish(state, context)
    return state


def check_steps(n_steps: int) -> int:
    """``n_steps`` as given, or a ConfigError unless it is an integer >= 0."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ConfigError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    return n_steps


def prepare(state: State, forcefield: ForceField, integrator: Integrator, reporters: Sequence[Reporter],
            limits: Optional[StabilityLimits]) -> Tuple[State, List[Reporter], StabilityLimits]:
    """Check one system's inputs before its run; returns the state initialised for the
    integrator (when fresh), its reporters in call order and the stability limits."""
    check_is_forcefield(forcefield)
    if not isinstance(integrator, Integrator):
        raise ConfigError(f"{type(integrator).__name__} is not an md integrator (see md.make_integrator)")
    validate_system(state.system, known_atomic_numbers(forcefield))
    if state.system.cell.shape[0] != 1:
        raise InvalidSystemError("md runs one structure per state; give a batch as a list of states to md.run_batch")
    if state.extended is None and integrator.name != "nve":
        state = integrator.init(state)
    limits = limits or StabilityLimits()
    if limits.max_forces_std_eV_per_A is not None and not has_spread(forcefield):
        raise ConfigError(f"max_forces_std_eV_per_A is set but {type(forcefield).__name__} is not a committee "
                          "(committee_size > 1) and has no force spread; drop the limit or use a committee potential")
    keys = [r.key for r in reporters]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"two reporters share a checkpoint key in {keys}; give them different file names")
    return state, sorted(reporters, key=lambda r: r.order), limits


def wants_stress(ordered: Sequence[Reporter], step: int) -> bool:
    """True when some reporter needs the stress of ``step``."""
    return any(r.wants_stress(step) for r in ordered)


def step_problem(state: State, new: State, forcefield: ForceField, integrator: Integrator,
                 limits: StabilityLimits, reference_eV: float) -> Optional[str]:
    """The diagnosis of an unstable step ``state`` → ``new`` (see :func:`md.stability.check_step`;
    the conserved energy and a committee's spread every ``limits.energy_check_interval``
    steps), or None."""
    conserved = (integrator.conserved_energy_eV(new) if new.step % limits.energy_check_interval == 0
                 else None)
    problem = check_step(state, new, float(integrator.timestep_fs), limits, conserved, reference_eV)
    if problem is None and conserved is not None and limits.max_forces_std_eV_per_A is not None:
        problem = check_spread(new, spread_at(forcefield, new), limits)
    return problem


def stop(ordered: Sequence[Reporter], last_good: State, context: RunContext, problem: str) -> SimulationError:
    """Let every reporter keep the last good state; the error naming ``problem`` and the files."""
    written: List[str] = []
    for reporter in ordered:
        written += reporter.fail(last_good, context, problem)
    kept = f" Last good state (step {last_good.step}) kept in: {', '.join(written)}." if written else ""
    return SimulationError(problem + "." + kept)


def report(ordered: Sequence[Reporter], state: State, context: RunContext) -> None:
    """Call the reporters due at ``state.step``."""
    for reporter in ordered:
        if state.step % reporter.interval == 0:
            reporter.report(state, context)
