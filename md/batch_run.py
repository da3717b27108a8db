"""Many independent systems in one run: one force call per step for all of them.

``states = run_batch(states, forcefield, integrators, n_steps, reporters_per_system)``

Each system keeps its own state (structure, velocities, generator, neighbour cache), its own
integrator (ensemble, temperature, time step), its own stability checks and reporters
(thermo CSV, trajectory, energy/shadow monitor). Only the force call is shared: every step
each integrator does the part of its step before the forces (``begin_step``), the force field
evaluates all systems at once (:func:`md.batch_evaluate.evaluate_batch`), and each integrator
finishes its step (``finish_step``). Integrators run their solo ``step`` through the same two
halves, so a system follows the trajectory it would follow alone (to round-off of the force
field's batched arithmetic; bit for bit with the md force fields).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

from mlip.errors import ConfigError, SimulationError

from md.batch_checkpoint import save_batch_checkpoint
from md.batch_evaluate import batch_layout, evaluate_batch, neighbor_upkeep
from md.forcefield import ForceField, describe
from md.integrator import Integrator, supports_batch
from md.reporters.base import Reporter, RunContext, check_interval
from md.run import check_steps, prepare, report, step_problem, stop, wants_stress
from md.stability import StabilityLimits
from md.state import State


def run_batch(states: Sequence[State], forcefield: ForceField, integrators: Union[Integrator, Sequence[Integrator]],
              n_steps: int, reporters_per_system: Optional[Sequence[Sequence[Reporter]]] = None,
              limits: Optional[StabilityLimits] = None, checkpoint_path: Optional[str] = None,
              checkpoint_interval: int = 1000, names: Optional[Sequence[str]] = None) -> List[State]:
    """Advance every state by ``n_steps`` steps, all systems sharing one force call per step.

    Args:
        states: one state per system (each one structure; all of one dtype and device, all at
            the same ``step``); sizes, cells, compositions and periodicity may differ.
        forcefield: see :mod:`md.forcefield`; it must evaluate a batched System (one energy
            per system), as mlip potentials and the md force fields do.
        integrators: one per system, or one for all (its parameters then apply to every
            system); each must split its step (:class:`md.integrator.SplitStep`: ``nve``,
            ``langevin``, ``bussi``, ``nose-hoover``).
        n_steps: number of steps (>= 0).
        reporters_per_system: one list of reporters per system (a reporter object belongs to
            one system only), called as :func:`md.run` calls them.
        limits: stability limits, checked per system after every step (see :func:`md.run`).
        checkpoint_path: write one batch checkpoint (:mod:`md.batch_checkpoint`) here every
            ``checkpoint_interval`` steps, at the end and, with the last good states, when a
            system fails; None writes none.
        checkpoint_interval: steps between batch checkpoints.
        names: one label per system for error messages (default ``system 0``, ``system 1``, …).

    Returns:
        The final states, in the order given.

    Raises:
        SimulationError: a system became unstable. The run stops for every system at the last
            good step; the message names the system, the problem and the files kept.

    Example:
        >>> import ase.build, md
        >>> lj = md.LennardJones(epsilon_eV=0.0104, sigma_A=3.40, cutoff_A=8.0)
        >>> crystal = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True)
        >>> states = [md.initial_state(crystal.repeat(n), lj, temperature_K=50.0, seed=n) for n in (1, 2)]
        >>> integrators = [md.Bussi(5.0, temperature_K=t) for t in (40.0, 80.0)]
        >>> states = md.run_batch(states, lj, integrators, n_steps=10)
        >>> [(s.n_atoms, s.step) for s in states]
        [(4, 10), (32, 10)]
    """
    states = list(states)
    n = len(states)
    integrators = _integrators(integrators, n)
    reporters = _reporter_lists(reporters_per_system, n)
    check_steps(n_steps)
    if checkpoint_path is not None:
        check_interval(checkpoint_interval, "checkpoint_interval")
    names = [f"system {i}" for i in range(n)] if names is None else [str(x) for x in names]
    if len(names) != n:
        raise ConfigError(f"got {len(names)} names for {n} systems; give one name per system")
    prepared = [prepare(s, forcefield, integ, reps, limits) for s, integ, reps in zip(states, integrators, reporters)]
    states = [p[0] for p in prepared]
    ordered = [p[1] for p in prepared]
    limits = prepared[0][2]
    steps = sorted({s.step for s in states})
    if len(steps) > 1:
        raise ConfigError(f"the states of a batch must be at the same step, got steps {steps}; "
                          "run the ones behind alone (md.run) until they catch up")
    layout = batch_layout([s.system for s in states])
    upkeep = neighbor_upkeep(layout)
    stress = [bool(getattr(integ, "needs_stress", False)) for integ in integrators]  # e.g. a barostat
    contexts = [RunContext(integ, forcefield, reps, s.step, s.step + n_steps)
                for integ, reps, s in zip(integrators, ordered, states)]
    references = [integ.conserved_energy_eV(s) for integ, s in zip(integrators, states)]
    saved_step = states[0].step

    def save(at: List[State]) -> None:
        nonlocal saved_step
        save_batch_checkpoint(checkpoint_path, at, integrators, ordered, describe(forcefield))
        saved_step = at[0].step

    for reps, s, context in zip(ordered, states, contexts):
        for reporter in reps:
            reporter.start(s, context)
    try:
        for _ in range(n_steps):
            firsts = [integ.begin_step(s) for integ, s in zip(integrators, states)]
            flags = [always or wants_stress(reps, s.step + 1) for always, reps, s in zip(stress, ordered, states)]
            results = evaluate_batch(forcefield, [f.system for f in firsts], [f.state.neighbors for f in firsts],
                                     flags, layout, upkeep)
            new = [integ.finish_step(f, r) for integ, f, r in zip(integrators, firsts, results)]
            problems = []
            for i in range(n):
                problem = step_problem(states[i], new[i], forcefield, integrators[i], limits, references[i])
                if problem is not None:
                    problems.append((i, problem))
            if problems:
                raise _stop_all(problems, states, ordered, contexts, names, checkpoint_path, save)
            states = new
            for reps, s, context in zip(ordered, states, contexts):
                report(reps, s, context)
            if checkpoint_path is not None and states[0].step % checkpoint_interval == 0:
                save(states)
    finally:
        if checkpoint_path is not None and saved_step != states[0].step:
            save(states)
        for reps, s, context in zip(ordered, states, contexts):
            for reporter in reversed(reps):
                reporter.finish(s, context)
    return states


def _integrators(integrators, n: int) -> List[Integrator]:
    if n == 0:
        raise ConfigError("run_batch needs at least one state")
    many = list(integrators) if isinstance(integrators, (list, tuple)) else [integrators] * n
    if len(many) != n:
        raise ConfigError(f"got {len(many)} integrators for {n} systems; give one per system or one for all")
    for integrator in many:
        if not isinstance(integrator, Integrator):
            raise ConfigError(f"{type(integrator).__name__} is not an md integrator (see md.make_integrator)")
        if not supports_batch(integrator):
            raise ConfigError(f"ensemble {integrator.name!r} does not support batched runs yet (its integrator has "
                              "no begin_step/finish_step); run those systems one at a time with md.run")
    return many


def _reporter_lists(reporters_per_system, n: int) -> List[List[Reporter]]:
    if reporters_per_system is None:
        return [[] for _ in range(n)]
    lists = [list(r) for r in reporters_per_system]
    if len(lists) != n:
        raise ConfigError(f"got {len(lists)} reporter lists for {n} systems; give one list (maybe empty) per system")
    seen = {}
    for i, reps in enumerate(lists):
        for reporter in reps:
            if id(reporter) in seen and seen[id(reporter)] != i:
                raise ConfigError(f"one {type(reporter).__name__} is given to systems {seen[id(reporter)]} and {i}; "
                                  "a reporter keeps one system's record: make one per system")
            seen[id(reporter)] = i
    return lists


def _stop_all(problems, states, ordered, contexts, names, checkpoint_path, save) -> SimulationError:
    """Every failed system's reporters keep its last good state; the batch checkpoint keeps all."""
    messages = []
    for i, problem in problems:
        error = stop(ordered[i], states[i], contexts[i], problem)
        messages.append(f"{names[i]} (of {len(states)}): {error}")
    kept = ""
    if checkpoint_path is not None:
        save(states)
        kept = f" (every system's last good state kept in the batch checkpoint {checkpoint_path})"
    return SimulationError(" ".join(messages) + f" Every system of the batch stopped at step {states[0].step}{kept}.")
