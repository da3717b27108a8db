"""Restart of a batch: 2N steps in one go equal N steps + batch checkpoint + restart + N steps —
states, generators, thermostat variables and every system's files — through md.run_batch and
through `mlip md --structure a b --replicas 2` (run_from_args)."""
import os

import ase.io
import pytest
import torch

import md
from md.cli_run import run_from_args
from md_systems import argon_cluster13, argon_crystal, argon_liquid, argon_lj
from test_md_restart import assert_states_identical

N = 20


def system_reporters(directory):
    os.makedirs(directory, exist_ok=True)
    monitor = md.EnergyMonitor(sample_interval=2, order=4, json_path=os.path.join(directory, "drift.json"))
    return [monitor, md.ThermoReporter(os.path.join(directory, "thermo.csv"), interval=4, monitor=monitor),
            md.AseTrajectoryReporter(os.path.join(directory, "traj.extxyz"), interval=5)]


def test_batch_checkpoint_restart_continues_identically(tmp_path):
    lj = argon_lj(7.0)
    integrators = [md.VelocityVerlet(5.0), md.LangevinBAOAB(5.0, 90.0, 0.02), md.NoseHooverChain(5.0, 60.0, 50.0)]
    structures = [argon_liquid(repeat=2, seed=1), argon_cluster13(), argon_crystal(1)]
    start = [i.init(md.initial_state(a, lj, 80.0, seed=k)) for k, (a, i) in enumerate(zip(structures, integrators))]

    def reporters(root):
        return [system_reporters(str(root / f"s{k}")) for k in range(len(start))]

    full = md.run_batch(start, lj, integrators, 2 * N, reporters(tmp_path / "straight"))
    pieces = tmp_path / "pieces"
    first = md.run_batch(start, lj, integrators, N, reporters(pieces), checkpoint_path=str(pieces / "ck.pt"),
                         checkpoint_interval=N)
    resumed_reporters = reporters(pieces)
    resumed = md.load_batch_checkpoint(str(pieces / "ck.pt"), integrators, resumed_reporters)
    for a, b in zip(resumed, first):
        assert_states_identical(a, b)
    second = md.run_batch(resumed, lj, integrators, N, resumed_reporters)
    for k, (a, b) in enumerate(zip(full, second)):
        assert_states_identical(a, b)
        for name in ("thermo.csv", "traj.extxyz", "drift.json"):
            assert (tmp_path / "straight" / f"s{k}" / name).read_bytes() == (pieces / f"s{k}" / name).read_bytes()


@pytest.fixture
def structures(tmp_path):
    ase.io.write(tmp_path / "a.xyz", argon_liquid(repeat=2, seed=2))
    ase.io.write(tmp_path / "b.xyz", argon_crystal(1))
    return [str(tmp_path / "a.xyz"), str(tmp_path / "b.xyz")]


def cli(structures, output, steps, restart=None):
    options = {"forcefield": {"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 6.5}},
               "replicas": 2, "thermo_interval": 5, "trajectory_interval": 5, "checkpoint_interval": 10,
               "progress": False}
    if restart is not None:
        return run_from_args(restart=restart, steps=steps)
    return run_from_args(structure_path=structures, ensemble="langevin", temperature_K=[60.0, 90.0, 120.0, 150.0],
                         timestep_fs=5.0, steps=steps, output_dir=str(output), seed=4, options=options)


def test_cli_batch_writes_per_system_outputs_and_restarts_identically(tmp_path, structures, monkeypatch):
    import md.reporters.energy_plot

    # each energy.png costs ~0.3 s of matplotlib; this test is about the MD and the text outputs
    monkeypatch.setattr(md.reporters.energy_plot, "plot_energies", lambda path, *args: open(path, "wb").close())
    straight = cli(structures, tmp_path / "straight", 2 * N)
    assert [s.temperature_K for s in straight.systems] == [60.0, 90.0, 120.0, 150.0]
    assert [s.structure for s in straight.systems] == [structures[0]] * 2 + [structures[1]] * 2
    assert len({s.seed for s in straight.systems}) == 4
    import yaml

    saved = yaml.safe_load((tmp_path / "straight" / "config.yaml").read_text())
    assert saved["seeds"] == [s.seed for s in straight.systems] and saved["replicas"] == 2
    assert (tmp_path / "straight" / "systems.csv").read_text().count("\n") == 5

    cli(structures, tmp_path / "pieces", N)
    resumed = cli(structures, None, 2 * N, restart=str(tmp_path / "pieces"))
    assert resumed.n_steps_run == N
    for k, (a, b) in enumerate(zip(straight.states, resumed.states)):
        assert_states_identical(a, b)
        for name in ("thermo.csv", "trajectory.extxyz", "drift.json"):
            path = os.path.join(f"system_{k:03d}", name)
            assert (tmp_path / "straight" / path).read_bytes() == (tmp_path / "pieces" / path).read_bytes(), path
    # system 2 (structure b, replica 0, 120 K) is the solo run of its own config.yaml
    own = tmp_path / "straight" / "system_002" / "config.yaml"
    assert yaml.safe_load(own.read_text())["temperature_K"] == pytest.approx(120.0, rel=1e-15)
    solo = run_from_args(config_path=str(own), output_dir=str(tmp_path / "solo"))
    assert solo.state.step == 2 * N
    torch.testing.assert_close(solo.state.positions, straight.states[2].positions, rtol=1e-12, atol=1e-12 * float(solo.state.positions.abs().max()))
    assert sorted(os.listdir(tmp_path / "solo")) == ["checkpoint.pt", "config.yaml", "drift.json", "energy.png",
                                                     "thermo.csv", "trajectory.extxyz"]  # the one-system layout


def test_cli_batch_npt_runs_each_replica_like_its_solo_run(tmp_path, monkeypatch):
    """`mlip md --ensemble npt --replicas 2`: each replica's cell moves and equals its solo run."""
    import md.reporters.energy_plot
    import yaml

    monkeypatch.setattr(md.reporters.energy_plot, "plot_energies", lambda path, *args: open(path, "wb").close())
    ase.io.write(tmp_path / "c.xyz", argon_crystal(2))
    options = {"forcefield": {"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 6.5}},
               "replicas": 2, "thermo_interval": 5, "trajectory_interval": 5, "checkpoint_interval": 10,
               "progress": False, "pressure_GPa": 0.1, "barostat_tau_fs": 200.0}
    batch = run_from_args(structure_path=[str(tmp_path / "c.xyz")], ensemble="npt", temperature_K=[40.0, 80.0],
                          timestep_fs=5.0, steps=N, output_dir=str(tmp_path / "batch"), seed=3, options=options)
    start_volume = argon_crystal(2).get_volume()
    for k, state in enumerate(batch.states):
        own = tmp_path / "batch" / f"system_{k:03d}" / "config.yaml"
        assert yaml.safe_load(own.read_text())["ensemble"] == "npt"
        volume = abs(float(torch.linalg.det(state.system.cell[0])))
        assert abs(volume - start_volume) > 1e-6 * start_volume  # the barostat moved the cell
        solo = run_from_args(config_path=str(own), output_dir=str(tmp_path / f"solo{k}"))
        torch.testing.assert_close(solo.state.system.cell, state.system.cell, rtol=1e-12, atol=1e-12 * float(solo.state.system.cell.abs().max()))
        torch.testing.assert_close(solo.state.positions, state.positions, rtol=1e-12, atol=1e-12 * float(solo.state.positions.abs().max()))


def test_cli_batch_pressure_ladder_gives_each_replica_its_pressure(tmp_path, monkeypatch):
    """`mlip md --ensemble npt --replicas 3 --pressure-GPa 0 0.3 0.6`: each replica's barostat
    targets its own pressure (systems.csv, its config.yaml), its trajectory equals its solo run,
    and over a short run the higher pressure compresses the crystal more."""
    import csv

    import md.reporters.energy_plot
    import yaml

    monkeypatch.setattr(md.reporters.energy_plot, "plot_energies", lambda path, *args: open(path, "wb").close())
    ase.io.write(tmp_path / "c.xyz", argon_crystal(2))
    pressures = [0.0, 0.3, 0.6]
    options = {"forcefield": {"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 6.5}},
               "replicas": 3, "thermo_interval": 10, "trajectory_interval": 20, "checkpoint_interval": 40,
               "progress": False, "pressure_GPa": pressures, "barostat_tau_fs": 200.0, "compressibility_per_GPa": 0.3}
    batch = run_from_args(structure_path=[str(tmp_path / "c.xyz")], ensemble="npt", temperature_K=[40.0],
                          timestep_fs=5.0, steps=2 * N, output_dir=str(tmp_path / "batch"), seed=3, options=options)
    rows = list(csv.DictReader(open(tmp_path / "batch" / "systems.csv")))
    assert [float(r["pressure_GPa"]) for r in rows] == pytest.approx(pressures, abs=1e-15)
    volumes = []
    for k, state in enumerate(batch.states):
        own = tmp_path / "batch" / f"system_{k:03d}" / "config.yaml"
        assert yaml.safe_load(own.read_text())["pressure_GPa"] == pytest.approx(pressures[k], abs=1e-15)
        volumes.append(abs(float(torch.linalg.det(state.system.cell[0]))))
        solo = run_from_args(config_path=str(own), output_dir=str(tmp_path / f"solo{k}"))
        torch.testing.assert_close(solo.state.system.cell, state.system.cell, rtol=1e-12, atol=1e-12 * float(solo.state.system.cell.abs().max()))
        torch.testing.assert_close(solo.state.positions, state.positions, rtol=1e-12, atol=1e-12 * float(solo.state.positions.abs().max()))
    assert volumes[0] > volumes[1] > volumes[2], volumes
    restarted = run_from_args(restart=str(tmp_path / "batch"), steps=2 * N + 10, options={"progress": False})
    assert [s.step for s in restarted.states] == [2 * N + 10] * 3
