"""NPT restarts bit for bit: 2N steps in one go equal N steps + checkpoint + restart + N steps
(same code path both ways, so torch.equal is the right comparison): positions, velocities,
cell, RNG, barostat and thermostat variables, and the thermo log (pressure and volume)."""
import csv
import os

import pytest
import torch

import md
from mlip.errors import ConfigError
from md_systems import argon_liquid, argon_lj
from test_md_restart import assert_states_identical

N = 20

INTEGRATORS = {
    "scr-isotropic": md.StochasticCellRescaling(5.0, 100.0, 0.02, barostat_tau_fs=300.0, compressibility_per_GPa=1.0),
    "scr-triclinic": md.StochasticCellRescaling(5.0, 100.0, 0.02, barostat_tau_fs=300.0, compressibility_per_GPa=1.0,
                                                flexibility="triclinic"),
    "mtk-isotropic": md.MTK(5.0, 100.0, 0.02, barostat_tau_fs=300.0),
    "mtk-anisotropic": md.MTK(5.0, 100.0, 0.02, barostat_tau_fs=300.0, flexibility="anisotropic"),
}


def reporters(directory):
    monitor = md.EnergyMonitor(sample_interval=2, order=8, json_path=os.path.join(directory, "drift.json"))
    return [monitor, md.ThermoReporter(os.path.join(directory, "thermo.csv"), interval=4, monitor=monitor),
            md.AseTrajectoryReporter(os.path.join(directory, "traj.extxyz"), interval=10),
            md.CheckpointReporter(os.path.join(directory, "checkpoint.pt"), interval=N)]


@pytest.mark.parametrize("name", list(INTEGRATORS))
def test_npt_restart_continues_bit_identically(tmp_path, name):
    integrator = INTEGRATORS[name]
    liquid, lj = argon_liquid(repeat=2, seed=8), argon_lj(6.5)
    start = integrator.init(md.initial_state(liquid, lj, temperature_K=100.0, seed=3, skin_A=0.4))
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    straight.mkdir(), pieces.mkdir()
    full = md.run(start, lj, integrator, 2 * N, reporters(straight))
    md.run(start, lj, integrator, N, reporters(pieces))
    resumed_reporters = reporters(pieces)
    resumed = md.load_checkpoint(str(pieces / "checkpoint.pt"), integrator, resumed_reporters)
    second = md.run(resumed, lj, integrator, N, resumed_reporters)

    assert_states_identical(full, second)
    assert torch.equal(full.system.cell, second.system.cell)
    assert not torch.equal(full.system.cell, start.system.cell)  # the barostat moved the cell
    assert torch.equal(full.neighbors.reference_cell, second.neighbors.reference_cell)
    for name_ in ("thermo.csv", "traj.extxyz", "drift.json"):
        assert (straight / name_).read_bytes() == (pieces / name_).read_bytes(), name_
    rows = list(csv.DictReader(open(straight / "thermo.csv")))
    assert len(rows) == 2 * N // 4 + 1 and all(r["pressure_GPa"] and r["volume_A3"] for r in rows)
    assert float(rows[-1]["volume_A3"]) == pytest.approx(float(torch.linalg.det(full.system.cell[0])), rel=1e-12)


def test_restart_with_another_barostat_or_pressure_is_refused(tmp_path):
    liquid, lj = argon_liquid(repeat=2, seed=8), argon_lj(6.5)
    integrator = INTEGRATORS["scr-isotropic"]
    state = md.run(integrator.init(md.initial_state(liquid, lj, temperature_K=100.0, seed=3)), lj, integrator, 2)
    path = str(tmp_path / "checkpoint.pt")
    md.save_checkpoint(path, state, integrator)
    for other in (INTEGRATORS["mtk-isotropic"], md.StochasticCellRescaling(5.0, 100.0, 0.5, barostat_tau_fs=300.0,
                                                                          compressibility_per_GPa=1.0)):
        with pytest.raises(ConfigError, match="restart with the same ensemble and parameters"):
            md.load_checkpoint(path, other)


@pytest.mark.parametrize("name", ["scr-triclinic", "mtk-anisotropic"])
def test_npt_in_a_batch_follows_its_solo_trajectory(name):
    """The barostats split their step around the force call (begin_step / finish_step) and ask
    for the stress at every step (needs_stress), so md.run_batch runs them bit for bit."""
    integrator, lj = INTEGRATORS[name], argon_lj(6.5)
    states = [integrator.init(md.initial_state(argon_liquid(2, seed=k), lj, temperature_K=100.0, seed=k))
              for k in range(2)]
    batch = md.run_batch(states, lj, integrator, 15)
    for state, together in zip(states, batch):
        alone = md.run(state, lj, integrator, 15)
        assert torch.equal(alone.positions, together.positions)
        assert torch.equal(alone.system.cell, together.system.cell)
        assert not torch.equal(alone.system.cell, state.system.cell)
