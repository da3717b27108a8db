"""The `mlip md` entry points: run_from_args / YAML config / argparse namespace, outputs and
restart, with the built-in Lennard-Jones force field and with a saved mlip potential."""
import argparse
import json
import os

import ase.io
import pytest
import torch
import yaml

import md
from md.cli_run import add_arguments, main_from_namespace, run_from_args
from mlip.errors import ConfigError
from md_systems import argon_crystal

LJ = {"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 7.0, "smooth_onset_A": 6.0}}


@pytest.fixture
def structure(tmp_path):
    path = tmp_path / "argon.extxyz"
    ase.io.write(path, argon_crystal(repeat=2))
    return str(path)


def test_run_from_yaml_config_writes_every_output(tmp_path, structure):
    config = tmp_path / "md.yaml"
    config.write_text(yaml.safe_dump({
        "structure": structure, "ensemble": "nve", "temperature_K": 40.0, "timestep_fs": 5.0, "steps": 60,
        "output_dir": str(tmp_path / "out"), "thermo_interval": 5, "trajectory_interval": 20,
        "trajectory_formats": ["extxyz", "traj", "dcd", "xtc"], "checkpoint_interval": 30, "progress": False,
        "forcefield": LJ}))
    result = run_from_args(config_path=str(config))
    out = tmp_path / "out"
    for name in ("config.yaml", "thermo.csv", "drift.json", "energy.png", "checkpoint.pt", "trajectory.extxyz",
                 "trajectory.traj", "trajectory.dcd", "trajectory.xtc", "trajectory.pdb"):
        assert (out / name).is_file(), name
    assert result.state.step == 60 and result.n_steps_run == 60
    drift = json.loads((out / "drift.json").read_text())
    assert drift["verdict"] == "conservative" and drift["shadow_order"] == 8
    rows = (out / "thermo.csv").read_text().splitlines()
    assert rows[0].startswith("step,time_fs,potential_eV,kinetic_eV,total_eV,conserved_eV,shadow_eV,temperature_K")
    assert len(rows) == 1 + 60 // 5 + 1
    assert rows[3].split(",")[6] != "" and rows[-1].split(",")[6] == ""  # H̃ known except for the last 4 steps
    assert float(rows[1].split(",")[8]) != 0.0  # pressure (periodic cell)
    assert (out / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(ase.io.read(out / "trajectory.extxyz", ":")) == 4


def test_cli_restart_continues_to_the_requested_total(tmp_path, structure):
    common = dict(structure_path=structure, ensemble="langevin", temperature_K=60.0, timestep_fs=5.0, seed=4,
                  options={"forcefield": LJ, "progress": False, "checkpoint_interval": 20, "thermo_interval": 4})
    run_from_args(steps=40, output_dir=str(tmp_path / "straight"), **common)
    run_from_args(steps=20, output_dir=str(tmp_path / "pieces"), **common)
    result = run_from_args(steps=40, restart=str(tmp_path / "pieces"), **common)
    assert result.n_steps_run == 20 and result.state.step == 40
    for name in ("thermo.csv", "trajectory.extxyz"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "pieces" / name).read_bytes()


def test_main_from_namespace_parses_flags(tmp_path, structure, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = tmp_path / "ff.yaml"
    config.write_text(yaml.safe_dump({"forcefield": LJ, "progress": False}))
    args = parser.parse_args(["--structure", structure, "--ensemble", "bussi", "--temperature-K", "50",
                              "--timestep-fs", "5", "--steps", "40", "--output", str(tmp_path / "o"), "--seed", "1",
                              "--dtype", "float64", "--config", str(config)])
    assert main_from_namespace(args) == 0
    printed = capsys.readouterr().out
    assert "40 steps" in printed and "does not apply to bussi" in printed


def test_dtype_float32_state(tmp_path, structure):
    result = run_from_args(structure_path=structure, steps=10, output_dir=str(tmp_path / "o"), dtype="float32",
                           options={"forcefield": LJ, "progress": False})
    assert result.state.positions.dtype == torch.float32 and result.state.velocities.dtype == torch.float32


def test_restart_alone_continues_with_the_saved_settings(tmp_path, structure):
    common = dict(structure_path=structure, ensemble="bussi", temperature_K=60.0, timestep_fs=5.0, seed=4,
                  options={"forcefield": LJ, "progress": False, "checkpoint_interval": 20, "thermo_interval": 4})
    run_from_args(steps=40, output_dir=str(tmp_path / "straight"), **common)
    run_from_args(steps=20, output_dir=str(tmp_path / "pieces"), **common)
    # only --restart and --steps: ensemble, temperature, force field, intervals come from config.yaml
    result = run_from_args(steps=40, restart=str(tmp_path / "pieces"))
    assert result.n_steps_run == 20 and result.state.step == 40
    for name in ("thermo.csv", "trajectory.extxyz"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "pieces" / name).read_bytes()
    saved = yaml.safe_load((tmp_path / "pieces" / "config.yaml").read_text())
    assert saved["ensemble"] == "bussi" and saved["steps"] == 40
    # a flag still wins over the saved setting (and is checked against the checkpoint)
    with pytest.raises(ConfigError, match="ensemble"):
        run_from_args(steps=60, restart=str(tmp_path / "pieces"), ensemble="nve")
