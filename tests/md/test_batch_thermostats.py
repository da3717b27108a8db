"""Per-system thermostats and generators in a batch: each system samples the canonical ensemble
at its own temperature; each draws from its own generator (replicas differ by seed only,
equal seeds give equal trajectories, and batch runs are reproducible); derived seeds are
deterministic and independent."""
import pytest
import torch

import md
from md.batch_config import derived_seeds
from md_systems import argon_liquid, argon_lj
from test_md_thermostats import Recorder, assert_canonical


@pytest.mark.slow  # ~8 s on an idle core: statistical MD run of three systems
def test_each_system_reaches_its_own_temperature():
    lj = argon_lj(7.0, smooth_onset_A=6.0)
    temperatures = [60.0, 120.0, 180.0]
    integrators = [md.Bussi(10.0, temperatures[0], tau_fs=100.0), md.LangevinBAOAB(10.0, temperatures[1], 0.01),
                   md.NoseHooverChain(10.0, temperatures[2], tau_fs=100.0)]
    states = [md.initial_state(argon_liquid(repeat=2, seed=i), lj, temperature_K=100.0, seed=i) for i in range(3)]
    states = md.run_batch(states, lj, integrators, 200)
    recorders = [Recorder(2) for _ in states]
    states = md.run_batch(states, lj, integrators, 1800, [[r] for r in recorders])
    for state, recorder, temperature in zip(states, recorders, temperatures):
        assert_canonical(state, recorder, temperature, mean_tol=0.04, var_tol=0.25)


def replicas(seeds, lj, integrator, n_steps=30):
    liquid = argon_liquid(repeat=2, seed=3)
    states = [md.initial_state(liquid, lj, temperature_K=100.0, seed=s) for s in seeds]
    return md.run_batch(states, lj, integrator, n_steps)


def test_replicas_differ_by_seed_only_and_runs_are_reproducible():
    lj = argon_lj(7.0)
    langevin = md.LangevinBAOAB(5.0, 100.0, 0.05)
    a = replicas([1, 2, 1], lj, langevin)
    b = replicas([1, 2, 1], lj, langevin)
    for x, y in zip(a, b):  # the same batch twice: the same trajectories
        torch.testing.assert_close(x.positions, y.positions, rtol=1e-12, atol=1e-12 * float(x.positions.abs().max()))
    torch.testing.assert_close(a[0].velocities, a[2].velocities, rtol=1e-12, atol=1e-12 * float(a[0].velocities.abs().max()))  # equal seeds
    assert float((a[0].velocities - a[1].velocities).abs().max()) > 1e-3  # different seeds
    assert a[0].rng is not a[2].rng and not torch.equal(a[0].rng.get_state(), a[1].rng.get_state())


def test_a_system_does_not_feel_the_noise_of_the_others():
    """Removing the other replicas from the batch leaves a system's trajectory unchanged."""
    lj = argon_lj(7.0)
    langevin = md.LangevinBAOAB(5.0, 100.0, 0.05)
    together = replicas([7, 8, 9, 10], lj, langevin)
    alone = replicas([9], lj, langevin)
    torch.testing.assert_close(together[2].positions, alone[0].positions, rtol=1e-12, atol=1e-12 * float(together[2].positions.abs().max()))
    torch.testing.assert_close(together[2].velocities, alone[0].velocities, rtol=1e-12, atol=1e-12 * float(together[2].velocities.abs().max()))


def test_derived_seeds_are_deterministic_distinct_and_differ_between_runs():
    first = derived_seeds(0, 64)
    assert first == derived_seeds(0, 64) and len(set(first)) == 64
    assert derived_seeds(0, 3) == first[:3]  # a system's seed does not depend on the batch size
    assert not set(derived_seeds(1, 64)) & set(first)  # neighbouring run seeds share no stream
