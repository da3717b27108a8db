"""The one MD driver loop: ``state = run(state, forcefield, integrator, n_steps, reporters)``."""
from __future__ import annotations

from typing import Optional, Sequence

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
    check_is_forcefield(forcefield)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ConfigError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    if not isinstance(integrator, Integrator):
        raise ConfigError(f"{type(integrator).__name__} is not an md integrator (see md.make_integrator)")
    validate_system(state.system, known_atomic_numbers(forcefield))
    if state.system.cell.shape[0] != 1:
        raise InvalidSystemError("md runs one structure at a time; run a batch one structure after another")
    if state.extended is None and integrator.name != "nve":
        state = integrator.init(state)
    limits = limits or StabilityLimits()
    if limits.max_forces_std_eV_per_A is not None and not has_spread(forcefield):
        raise ConfigError(f"max_forces_std_eV_per_A is set but {type(forcefield).__name__} is not a committee "
                          "(committee_size > 1) and has no force spread; drop the limit or use a committee potential")
    keys = [r.key for r in reporters]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"two reporters share a checkpoint key in {keys}; give them different file names")
    ordered = sorted(reporters, key=lambda r: r.order)
    context = RunContext(integrator, forcefield, ordered, state.step, state.step + n_steps)
    reference_eV = integrator.conserved_energy_eV(state)
    h = float(integrator.timestep_fs)
    for reporter in ordered:
        reporter.start(state, context)
    try:
        for _ in range(n_steps):
            stress = any(r.wants_stress(state.step + 1) for r in ordered)
            new = integrator.step(state, forcefield, stress)
            conserved = (integrator.conserved_energy_eV(new) if new.step % limits.energy_check_interval == 0
                         else None)
            problem = check_step(state, new, h, limits, conserved, reference_eV)
            if problem is None and conserved is not None and limits.max_forces_std_eV_per_A is not None:
                problem = check_spread(new, spread_at(forcefield, new), limits)
            if problem is not None:
                written = []
                for reporter in ordered:
                    written += reporter.fail(state, context, problem)
                kept = f" Last good state (step {state.step}) kept in: {', '.join(written)}." if written else ""
                raise SimulationError(problem + "." + kept)
            state = new
            for reporter in ordered:
                if state.step % reporter.interval == 0:
                    reporter.report(state, context)
    finally:
        for reporter in reversed(ordered):
            reporter.finish(state, context)
    return state
