"""Restart: 2N steps in one go equal N steps + checkpoint + restart + N steps, bit for bit —
state, RNG, thermostat variables, thermo log, trajectories and the shadow monitor's history."""
import os

import ase.io
import pytest
import torch

import md
from mlip.errors import ConfigError
from md_systems import argon_liquid, argon_lj

N = 40


def reporters(directory):
    monitor = md.EnergyMonitor(sample_interval=2, order=8, json_path=os.path.join(directory, "drift.json"))
    return [monitor,
            md.ThermoReporter(os.path.join(directory, "thermo.csv"), interval=4, monitor=monitor),
            md.AseTrajectoryReporter(os.path.join(directory, "traj.extxyz"), interval=10),
            md.AseTrajectoryReporter(os.path.join(directory, "traj.traj"), interval=10),
            md.MdtrajTrajectoryReporter(os.path.join(directory, "traj.xtc"), interval=10),
            md.CheckpointReporter(os.path.join(directory, "checkpoint.pt"), interval=N)]


def assert_states_identical(a, b):
    assert a.step == b.step and a.time_fs == b.time_fs
    for name in ("velocities", "forces", "potential_energy", "masses"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(a.positions, b.positions)
    assert torch.equal(a.rng.get_state(), b.rng.get_state())
    assert a.neighbors.n_builds == b.neighbors.n_builds
    if a.extended is not None:
        for x, y in zip(a.extended, b.extended):
            assert torch.equal(torch.as_tensor(x), torch.as_tensor(y))


@pytest.mark.parametrize("integrator", [md.VelocityVerlet(5.0), md.LangevinBAOAB(5.0, 100.0, 0.02),
                                        md.Bussi(5.0, 100.0, 50.0), md.NoseHooverChain(5.0, 100.0, 50.0)],
                         ids=["nve", "langevin", "bussi", "nose-hoover"])
def test_restart_continues_bit_identically(tmp_path, integrator):
    liquid, lj = argon_liquid(repeat=2, seed=8), argon_lj(7.0)
    start = integrator.init(md.initial_state(liquid, lj, temperature_K=100.0, seed=3, skin_A=0.4))
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    straight.mkdir(), pieces.mkdir()

    full_reporters = reporters(straight)
    full = md.run(start, lj, integrator, 2 * N, full_reporters)

    first = md.run(start, lj, integrator, N, reporters(pieces))
    resumed_reporters = reporters(pieces)
    resumed = md.load_checkpoint(str(pieces / "checkpoint.pt"), integrator, resumed_reporters)
    assert_states_identical(resumed, first)
    second = md.run(resumed, lj, integrator, N, resumed_reporters)

    assert_states_identical(full, second)
    for name in ("thermo.csv", "traj.extxyz", "drift.json"):
        assert (straight / name).read_bytes() == (pieces / name).read_bytes(), name
    a, b = ase.io.read(straight / "traj.traj", ":"), ase.io.read(pieces / "traj.traj", ":")
    assert len(a) == len(b) == 2 * N // 10 + 1
    assert all((x.positions == y.positions).all() for x, y in zip(a, b))
    assert (straight / "traj.xtc").read_bytes() == (pieces / "traj.xtc").read_bytes()
    assert full_reporters[0].series() == resumed_reporters[0].series()


def test_restart_after_output_written_past_the_checkpoint_cuts_it_back(tmp_path):
    """A crash after a checkpoint leaves rows and frames beyond it; the restart cuts them off."""
    liquid, lj = argon_liquid(repeat=2, seed=8), argon_lj(7.0)
    integrator = md.LangevinBAOAB(5.0, 100.0, 0.02)
    start = integrator.init(md.initial_state(liquid, lj, temperature_K=100.0, seed=3))
    reference, crash = tmp_path / "reference", tmp_path / "crash"
    reference.mkdir(), crash.mkdir()
    md.run(start, lj, integrator, 2 * N, reporters(reference))

    state = md.run(start, lj, integrator, N, reporters(crash))
    saved = (crash / "checkpoint.pt").read_bytes()
    more = reporters(crash)
    md.run(md.load_checkpoint(str(crash / "checkpoint.pt"), integrator, more), lj, integrator, 13, more)
    (crash / "checkpoint.pt").write_bytes(saved)  # as if killed before the next checkpoint

    resumed_reporters = reporters(crash)
    resumed = md.load_checkpoint(str(crash / "checkpoint.pt"), integrator, resumed_reporters)
    assert_states_identical(resumed, state)
    md.run(resumed, lj, integrator, N, resumed_reporters)
    for name in ("thermo.csv", "traj.extxyz", "traj.xtc", "drift.json"):
        assert (reference / name).read_bytes() == (crash / name).read_bytes(), name


def test_checkpoint_loads_with_weights_only_and_rejects_other_integrator(tmp_path):
    liquid, lj = argon_liquid(repeat=1, seed=8), argon_lj(7.0)
    state = md.initial_state(liquid, lj, temperature_K=50.0)
    path = str(tmp_path / "c.pt")
    md.run(state, lj, md.VelocityVerlet(5.0), 3, [md.CheckpointReporter(path, 1)])
    data = torch.load(path, weights_only=True)
    assert data["state"]["step"] == 3
    with pytest.raises(ConfigError, match="same ensemble"):
        md.load_checkpoint(path, md.VelocityVerlet(4.0))
