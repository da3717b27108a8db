"""`mlip md` end to end with a potential saved by the foundation API (md itself never imports
model code: the CLI hands it the loader)."""
import json

import ase.build
import ase.io
import pytest
import torch

import md

mlip = pytest.importorskip("mlip")
potential_module = pytest.importorskip("mlip.potential")


@pytest.fixture(scope="module")
def saved_potential(tmp_path_factory):
    potential = mlip.build_potential(mlip.ModelConfig(elements=("Ar",), cutoff=5.0, channels=8, n_layers=2), seed=0)
    return str(potential.save(tmp_path_factory.mktemp("pot") / "argon.pt"))


@pytest.fixture
def structure(tmp_path):
    atoms = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    path = tmp_path / "argon.extxyz"
    ase.io.write(path, atoms)
    return str(path)


def test_mlip_md_cli_runs_end_to_end_with_a_saved_potential(tmp_path, saved_potential, structure, capsys):
    from mlip.cli import main

    out = tmp_path / "run"
    code = main(["md", "--potential", saved_potential, "--structure", structure, "--ensemble", "nve",
                 "--temperature-K", "40", "--timestep-fs", "2", "--steps", "40", "--output", str(out), "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    drift = json.loads((out / "drift.json").read_text())
    assert drift["verdict"] == "conservative", drift["diagnosis"]  # a smooth, conservative model
    assert drift["shadow_rms_meV_per_atom"] < 1e-2 * drift["rms_meV_per_atom"]
    assert len(ase.io.read(out / "trajectory.extxyz", ":")) == 1  # every 100 steps: step 0 only
    assert "ns/day" in capsys.readouterr().out


def test_mlip_potential_follows_the_forcefield_protocol_and_elements_are_checked(tmp_path, saved_potential):
    potential = potential_module.load_potential(saved_potential)
    assert md.forcefield.known_atomic_numbers(potential) == [18]
    state = md.initial_state(ase.build.bulk("Ar", "fcc", a=5.26, cubic=True), potential, temperature_K=30.0)
    state = md.run(state, potential, md.LangevinBAOAB(2.0, 30.0, 0.01), 5)
    assert state.step == 5 and torch.isfinite(state.forces).all()
    with pytest.raises(mlip.errors.UnknownElementError, match="Cu"):
        md.initial_state(ase.build.bulk("Cu", "fcc", a=3.6), potential)


def test_mlip_md_restart_reuses_the_recorded_potential_and_settings(tmp_path, saved_potential, structure, capsys):
    from mlip.cli import main

    out = tmp_path / "run"
    assert main(["md", "--potential", saved_potential, "--structure", structure, "--ensemble", "langevin",
                 "--temperature-K", "40", "--timestep-fs", "2", "--steps", "20", "--output", str(out), "--seed", "3"]) == 0
    assert main(["md", "--restart", str(out), "--steps", "30"]) == 0, capsys.readouterr().err
    rows = (out / "thermo.csv").read_text().splitlines()
    assert int(rows[-1].split(",")[0]) == 30


def test_mlip_md_accepts_a_shipped_potential_name_and_names_a_missing_one(tmp_path, capsys):
    from mlip.cli import main

    path = tmp_path / "cu.extxyz"
    ase.io.write(path, ase.build.bulk("Cu", "fcc", a=3.6, cubic=True))
    assert main(["md", "--potential", "cuau-emt", "--structure", str(path), "--steps", "2",
                 "--output", str(tmp_path / "o")]) == 0
    assert "cuau-emt" in (tmp_path / "o" / "config.yaml").read_text()
    assert main(["md", "--potential", "no-such-potential", "--structure", str(path), "--steps", "2",
                 "--output", str(tmp_path / "o2")]) != 0
    assert "no-such-potential" in capsys.readouterr().err
