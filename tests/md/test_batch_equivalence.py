"""A system run in a batch (md.run_batch: one force call per step for all) follows the trajectory
of its own solo run (md.run): every step's positions and velocities agree to 1e-12 relative in
float64 — for systems of different sizes, cells, periodicity, compositions and ensembles in one
batch, with md's Lennard-Jones and with the shipped cuau-emt potential."""
import ase
import ase.build
import numpy as np
import pytest
import torch

import md
from md.batch_evaluate import evaluate_batch
from md_systems import argon_cluster13, argon_crystal, argon_liquid, argon_lj

N_STEPS = 40
RTOL = 1e-12


class Trajectory(md.Reporter):
    """Keeps every step's positions and velocities."""

    key = "trajectory-recorder"

    def __init__(self):
        self.positions, self.velocities = [], []

    def report(self, state, context):
        self.positions.append(state.positions)
        self.velocities.append(state.velocities)


def assert_same_trajectory(solo, batch):
    assert len(solo.positions) == len(batch.positions) > 1
    for name in ("positions", "velocities"):
        a, b = torch.stack(getattr(solo, name)), torch.stack(getattr(batch, name))
        scale = float(a.abs().max())
        worst = float((a - b).abs().max()) / scale
        assert worst <= RTOL, f"{name} differ by {worst:.3g} relative"


def solo_and_batch(make_states, forcefield, integrators, n_steps):
    solo = [Trajectory() for _ in integrators]
    solo_final = [md.run(s, forcefield, i, n_steps, [r]) for s, i, r in zip(make_states(), integrators, solo)]
    batch = [Trajectory() for _ in integrators]
    batch_final = md.run_batch(make_states(), forcefield, integrators, n_steps, [[r] for r in batch])
    return solo, batch, solo_final, batch_final


def test_lennard_jones_batch_of_different_systems_and_ensembles_equals_solo_runs():
    lj = argon_lj(7.0, smooth_onset_A=6.0)
    sheared = argon_liquid(repeat=2, seed=4)
    sheared.set_cell(sheared.cell.array + np.array([[0, 0, 0], [1.2, 0, 0], [0.5, 0.7, 0]]), scale_atoms=True)
    structures = [argon_liquid(repeat=2, seed=1), argon_crystal(1), argon_cluster13(), sheared,
                  argon_liquid(repeat=3, seed=2)]
    integrators = [md.VelocityVerlet(5.0), md.LangevinBAOAB(5.0, 80.0, 0.02), md.Bussi(5.0, 150.0, 50.0),
                   md.NoseHooverChain(5.0, 100.0, 50.0), md.LangevinBAOAB(5.0, 120.0, 0.05)]

    def states():
        return [md.initial_state(a, lj, 100.0, seed=i, skin_A=0.3) for i, a in enumerate(structures)]

    solo, batch, solo_final, batch_final = solo_and_batch(states, lj, integrators, N_STEPS)
    for a, b, sa, sb in zip(solo, batch, solo_final, batch_final):
        assert_same_trajectory(a, b)
        assert sa.step == sb.step == N_STEPS and sa.neighbors.n_builds == sb.neighbors.n_builds
        assert torch.equal(sa.rng.get_state(), sb.rng.get_state())  # each drew from its own generator only
    assert max(s.neighbors.n_builds for s in solo_final) > 1  # some list was rebuilt during the run


def test_batch_evaluation_equals_solo_evaluations_with_stress():
    lj = argon_lj(7.0)
    states = [md.initial_state(a, lj, 50.0, seed=i) for i, a in
              enumerate([argon_liquid(repeat=2, seed=1), argon_cluster13(), argon_crystal(1)])]
    together = evaluate_batch(lj, [s.system for s in states], [s.neighbors for s in states], [True, True, False])
    for state, flag, result in zip(states, [True, True, False], together):
        alone = md.evaluate(lj, state.system, state.neighbors, flag)
        # two code paths: compare to 1e-12 of the largest component (near-zero components of a
        # symmetric crystal are rounding noise whose last bits may differ between CPUs)
        torch.testing.assert_close(result.forces, alone.forces, rtol=RTOL,
                                   atol=RTOL * float(alone.forces.abs().max()))
        torch.testing.assert_close(result.energy, alone.energy, rtol=RTOL, atol=0.0)
        assert (result.stress is None) == (alone.stress is None)  # the cluster has no cell: no stress
        if alone.stress is not None:
            torch.testing.assert_close(result.stress, alone.stress, rtol=RTOL, atol=1e-18)
        assert result.forces.untyped_storage().nbytes() == result.forces.numel() * 8  # not a view of the batch


def copper(repeat, a_A, seed, n_gold=0):
    atoms = ase.build.bulk("Cu", "fcc", a=a_A, cubic=True).repeat(repeat)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.05, size=atoms.positions.shape)
    symbols = atoms.get_chemical_symbols()
    for k in range(n_gold):
        symbols[3 * k] = "Au"
    atoms.set_chemical_symbols(symbols)
    return atoms


def test_cuau_emt_batch_equals_solo_runs_in_float64():
    from mlip.potential import load_potential  # the test may load model code; md does not

    potential = load_potential("cuau-emt", dtype=torch.float64)
    structures = [copper((1, 1, 2), 3.61, 0), copper((2, 2, 2), 3.66, 1, n_gold=5), copper((1, 2, 2), 3.58, 2, 2)]
    integrators = [md.VelocityVerlet(2.0), md.LangevinBAOAB(2.0, 600.0, 0.02), md.Bussi(2.0, 300.0, 40.0)]

    def states():
        return [md.initial_state(a, potential, 300.0, seed=i) for i, a in enumerate(structures)]

    solo, batch, _, _ = solo_and_batch(states, potential, integrators, 15)
    for a, b in zip(solo, batch):
        assert_same_trajectory(a, b)


@pytest.mark.parametrize("integrator", [md.VelocityVerlet(5.0), md.LangevinBAOAB(5.0, 80.0, 0.02),
                                        md.Bussi(5.0, 150.0, 50.0), md.NoseHooverChain(5.0, 100.0, 50.0)],
                         ids=["nve", "langevin", "bussi", "nose-hoover"])
def test_step_is_begin_evaluate_finish(integrator):
    """The split every batch relies on: one step equals its two halves around one force call."""
    lj = argon_lj(7.0)
    state = integrator.init(md.initial_state(argon_liquid(repeat=2, seed=5), lj, 100.0, seed=2))
    whole = integrator.step(state, lj, True)
    first = integrator.begin_step(state)
    halves = integrator.finish_step(first, md.evaluate(lj, first.system, first.state.neighbors, True))
    for name in ("positions", "velocities", "forces", "stress"):
        torch.testing.assert_close(getattr(halves, name), getattr(whole, name), rtol=RTOL, atol=0.0)
    assert torch.equal(halves.rng.get_state(), whole.rng.get_state())
