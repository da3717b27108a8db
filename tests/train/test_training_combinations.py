"""Property targets and multi-fidelity training combined with each other and with committees,
fine-tuning (``init_from``), Δ-learning baselines and ``mlip eval``, end to end through
``mlip.train.train`` with tiny models on tiny EMT Cu/Au data.

Properties are checked independently of the autograd code that trains them: the bulk modulus
by central finite differences of E(V) with the ASE calculator of the saved potential (float64),
at the fidelity the target names. (Property targets on a single-fidelity committee are tested
in test_property_targets.py.)
"""
import csv
import json
import re

import ase
import ase.build
import ase.io
import numpy as np
import pytest
import torch

import mlip
from mlip.errors import ConfigError
from mlip.train import TrainConfig, train
from mlip.units import EV_PER_A3_IN_GPA
from emt_fixtures import make_emt_frames, tiny_config

A_A = 3.55  # Å, the lattice constant the targets' fcc Cu cell is at
FCC = {"bulk": "Cu", "crystalstructure": "fcc", "a": A_A}
LJ = {"kind": "lennard_jones", "epsilon": 0.1, "sigma": 2.3, "cutoff": 4.0}  # a stable fcc Cu of its own
MODEL = {"cutoff": 3.5, "l_max": 1, "channels": 4, "n_layers": 2, "radial_hidden": 8, "readout_hidden": 4}
FIDELITIES = {"low": {"energy": "low_energy", "forces": "low_forces"},
              "high": {"energy": "high_energy", "forces": "high_forces"}}
ONLY_TARGETS = {"energy_weight": 0.0, "forces_weight": 0.0, "stress_weight": 0.0}  # frames do not pull


@pytest.fixture(scope="module")
def mf_file(tmp_path_factory):
    """EMT cells labelled at two fidelities: low = EMT, high = 1.3 EMT − 0.5 eV/atom."""
    frames = make_emt_frames(10, seed=5)
    for atoms in frames:
        energy, forces = atoms.info.pop("energy"), atoms.arrays.pop("forces")
        atoms.info.pop("stress")
        atoms.info["low_energy"], atoms.arrays["low_forces"] = energy, forces
        atoms.info["high_energy"], atoms.arrays["high_forces"] = 1.3 * energy - 0.5 * len(atoms), 1.3 * forces
    path = tmp_path_factory.mktemp("mf") / "mf.extxyz"
    ase.io.write(path, frames)
    return str(path)


def mf_config(data, output, model=MODEL, **training):
    t = {"epochs": 1, "batch_size": 4, "lr": 0.01, "dtype": "float64", "progress": False}
    t.update(training)
    return {"data": {"train": data, "n_valid": 2, "n_test": 2, "fidelities": FIDELITIES},
            "model": dict(model), "training": t, "output": str(output)}


def bulk_modulus_fd_GPa(path, fidelity=None, network_only=False):
    """B = V d²E/dV² of the fcc cell at A_A by central differences of the saved potential's
    energy (ASE calculator, all terms unless ``network_only``), GPa."""
    pot = mlip.load_potential(path, fidelity=fidelity)
    if network_only:
        pot.model.terms = pot.model.terms[:1]
    calc = mlip.MLIPCalculator(pot)
    h, energies = 1e-3, []
    for s in (-h, 0.0, h):  # volume V0 (1 + s)
        energies.append(calc.get_potential_energy(ase.build.bulk("Cu", "fcc", a=A_A * (1 + s) ** (1 / 3))))
    v0 = ase.build.bulk("Cu", "fcc", a=A_A).get_volume()
    return v0 * (energies[0] - 2 * energies[1] + energies[2]) / (v0 * h) ** 2 * EV_PER_A3_IN_GPA


def rows(path):
    return list(csv.DictReader(open(path)))


def best_row(run_dir, member_dir=None):
    """The metrics.csv row of the epoch best.pt was saved at (its logged properties)."""
    best = mlip.load_potential(run_dir / "best.pt") if member_dir is None else mlip.load_potential(member_dir / "best.pt")
    return rows((member_dir or run_dir) / "metrics.csv")[best.info["best_epoch"] - 1]


# -- property targets on a multi-fidelity model ------------------------------------------------
def test_a_target_moves_the_fidelity_it_names_and_defaults_to_the_highest(mf_file, tmp_path):
    """Fine-tuning a multi-fidelity potential whose fidelities differ (random δ head, ρ ≠ 1) with
    one target at ``fidelity: low``: the low level's bulk modulus approaches it; a zero-weight
    target without a fidelity logs the highest level's. Both logged values are those of the
    saved potential at that fidelity (finite differences), even though the start potential was
    saved evaluating the low level."""
    start = mlip.build_potential(mlip.ModelConfig(elements=("Cu", "Au"), fidelities=("low", "high"), avg_num_neighbors=12.0,
                                                  **MODEL), dtype=torch.float64, seed=3)
    model = start.model.terms[0]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.readout.scale.fill_(0.5)
        model.heads[0].w2.copy_(torch.randn(model.heads[0].w2.shape, generator=g, dtype=torch.float64))
        model.heads[0].scale.fill_(0.5)
        model.rho.copy_(torch.tensor([[1.6, 0.7]], dtype=torch.float64))
    start.set_fidelity("low").save(tmp_path / "start.pt")
    b_low, b_high = bulk_modulus_fd_GPa(tmp_path / "start.pt", "low"), bulk_modulus_fd_GPa(tmp_path / "start.pt", "high")
    assert abs(b_high - b_low) > 5.0, (b_low, b_high)  # the two levels are distinguishable
    goal = float(b_low + 60.0)
    cfg = mf_config(mf_file, tmp_path / "run", model={}, epochs=4, lr=0.02, scheduler="none", ema_decay=0.0,
                    init_from=str(tmp_path / "start.pt"), loss=ONLY_TARGETS)
    cfg["training"]["properties"] = [
        {"kind": "bulk_modulus", "name": "lo", "fidelity": "low", "structure": FCC, "bulk_modulus_GPa": goal},
        {"kind": "bulk_modulus", "name": "hi", "structure": FCC, "bulk_modulus_GPa": 100.0, "weight": 0.0},
    ]
    train(TrainConfig.from_dict(cfg))
    logged = [float(r["prop_lo_bulk_modulus_GPa"]) for r in rows(tmp_path / "run" / "metrics.csv")]
    assert min(abs(b - goal) for b in logged) < 0.5 * abs(b_low - goal), (b_low, logged, goal)
    row = best_row(tmp_path / "run")
    best = tmp_path / "run" / "best.pt"
    np.testing.assert_allclose(float(row["prop_lo_bulk_modulus_GPa"]), bulk_modulus_fd_GPa(best, "low"), rtol=1e-4)
    np.testing.assert_allclose(float(row["prop_hi_bulk_modulus_GPa"]), bulk_modulus_fd_GPa(best, "high"), rtol=1e-4)
    assert abs(bulk_modulus_fd_GPa(best, "high") - bulk_modulus_fd_GPa(best, "low")) > 1.0


def test_an_unknown_target_fidelity_is_a_config_error_naming_the_known_ones(mf_file, emt_file, tmp_path):
    cfg = mf_config(mf_file, tmp_path / "mf")
    cfg["training"]["properties"] = [{"kind": "zero_stress", "name": "cu", "fidelity": "pbe", "structure": FCC}]
    with pytest.raises(ConfigError, match=r"training.properties \(cu\): unknown fidelity 'pbe': this potential knows "
                                          r"\['low', 'high'\].*give one of them as the target's 'fidelity'"):
        train(TrainConfig.from_dict(cfg))
    single = tiny_config(emt_file, tmp_path / "single")
    single["training"]["properties"] = [{"kind": "zero_stress", "name": "cu", "fidelity": "high", "structure": FCC}]
    with pytest.raises(ConfigError, match=r"training.properties \(cu\): fidelity 'high' asked of a single-fidelity potential"):
        train(TrainConfig.from_dict(single))
    single["training"]["properties"][0]["fidelity"] = 2
    with pytest.raises(ConfigError, match=r"training.properties\[0\] \(cu\): fidelity must be the name"):
        TrainConfig.from_dict(single)


# -- property targets with a Δ-learning baseline, then fine-tuned --------------------------------
@pytest.fixture(scope="module")
def delta_run(emt_file, tmp_path_factory):
    """A potential trained on EMT − LJ residuals with a bulk-modulus and a dimer-curve target."""
    out = tmp_path_factory.mktemp("delta")
    cfg = tiny_config(emt_file, out, epochs=3, lr=0.01)
    cfg["model"]["baselines"] = [LJ]
    cfg["training"]["properties"] = [
        {"kind": "bulk_modulus", "name": "b", "structure": FCC, "bulk_modulus_GPa": 140.0},
        {"kind": "energy_curve", "name": "dimer", "dimer": ["Cu", "Cu"], "distances_A": [2.0, 2.4], "energies_eV": [1.0, -0.5],
         "relative_to": "separated_atoms", "weight": 0.1},
    ]
    train(TrainConfig.from_dict(cfg))
    return out


def test_targets_with_a_baseline_are_properties_of_baseline_plus_network(delta_run):
    best = delta_run / "best.pt"
    pot = mlip.load_potential(best)
    assert pot.residual_only is False and [s["kind"] for s in pot.baseline_specs] == ["lennard_jones"]
    row = best_row(delta_run)
    b_total = bulk_modulus_fd_GPa(best)
    np.testing.assert_allclose(float(row["prop_b_bulk_modulus_GPa"]), b_total, rtol=1e-4)
    assert abs(bulk_modulus_fd_GPa(best, network_only=True) - b_total) > 10.0  # the baseline is in it
    calc = mlip.MLIPCalculator(pot)
    atom = calc.get_potential_energy(ase.Atoms("Cu"))
    curve = [calc.get_potential_energy(ase.Atoms("Cu2", positions=[[0, 0, 0], [0, 0, r]])) - 2 * atom for r in (2.0, 2.4)]
    np.testing.assert_allclose(float(row["prop_dimer_mae_eV"]), np.mean(np.abs(np.subtract(curve, [1.0, -0.5]))), rtol=1e-8)


def test_fine_tuning_with_a_target_keeps_the_baseline_and_moves_the_total_property(delta_run, emt_file, tmp_path):
    start = bulk_modulus_fd_GPa(delta_run / "best.pt")
    goal = float(start + 80.0)
    cfg = tiny_config(emt_file, tmp_path / "ft", epochs=4, lr=0.02, scheduler="none", ema_decay=0.0,
                      init_from=str(delta_run / "best.pt"), loss=ONLY_TARGETS)
    cfg["model"] = {}
    cfg["training"]["properties"] = [{"kind": "bulk_modulus", "name": "b", "structure": FCC, "bulk_modulus_GPa": goal}]
    train(TrainConfig.from_dict(cfg))
    logged = [float(r["prop_b_bulk_modulus_GPa"]) for r in rows(tmp_path / "ft" / "metrics.csv")]
    assert min(abs(b - goal) for b in logged) < 0.5 * abs(start - goal), (start, logged, goal)
    best = tmp_path / "ft" / "best.pt"
    assert [s["kind"] for s in mlip.load_potential(best).baseline_specs] == ["lennard_jones"]
    np.testing.assert_allclose(float(best_row(tmp_path / "ft")["prop_b_bulk_modulus_GPa"]), bulk_modulus_fd_GPa(best), rtol=1e-4)


# -- multi-fidelity + committee + fine-tuning + baseline, then mlip eval -------------------------
def eval_tables(text):
    """{fidelity: {quantity: MAE}} from `mlip eval` output."""
    tables = {}
    for block in text.split("fidelity ")[1:]:
        name, body = block.split(":", 1)
        tables[name] = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(energy|forces)\s+(\S+)", body, re.M)}
    return tables


def test_multi_fidelity_committee_fine_tuned_with_a_baseline_reports_errors_per_fidelity(mf_file, tmp_path, capsys):
    base_cfg = mf_config(mf_file, tmp_path / "base", model={**MODEL, "baselines": [{"kind": "zbl"}]}, committee_size=2)
    base = mlip.load_potential(train(TrainConfig.from_dict(base_cfg)))
    assert base.committee_size == 2 and base.fidelities == ("low", "high")
    # fine-tuned member by member (member k from member k), with a target at the low level too
    ft_cfg = mf_config(mf_file, tmp_path / "ft", model={}, committee_size=2, init_from=str(tmp_path / "base" / "best.pt"))
    ft_cfg["training"]["properties"] = [{"kind": "zero_stress", "name": "cu", "fidelity": "low", "structure": FCC}]
    best_path = train(TrainConfig.from_dict(ft_cfg))
    best = mlip.load_potential(best_path)
    assert best.committee_size == 2 and best.fidelities == ("low", "high") and best.fidelity == "high"
    assert [s["kind"] for s in best.baseline_specs] == ["zbl"]
    old = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in base.model.terms[0].members]
    new = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in best.model.terms[0].members]
    for k in range(2):
        assert float((new[k] - old[k]).norm()) < 0.5 * float((new[k] - old[1 - k]).norm()), k
        assert float((new[k] - old[k]).norm()) > 0  # and it was trained
    for k in range(2):
        assert "prop_cu_pressure_GPa" in rows(tmp_path / "ft" / f"member_{k}" / "metrics.csv")[0]
    report = json.loads((tmp_path / "ft" / "test_metrics.json").read_text())
    assert report["n_test_low"] == 2 and report["low_forces_mae_meV/A"] > 0 and report["high_forces_mae_meV/A"] > 0

    from mlip.cli import main

    capsys.readouterr()
    assert main(["eval", str(best_path), mf_file, "--fidelity-keys", "low=low_energy,low_forces",
                 "--fidelity-keys", "high=high_energy,high_forces"]) == 0
    tables = eval_tables(capsys.readouterr().out)
    assert sorted(tables) == ["high", "low"]
    frames = ase.io.read(mf_file, ":")
    for name in ("low", "high"):  # the committee mean with its baseline at each fidelity, against that fidelity's labels
        calc = mlip.MLIPCalculator(mlip.load_potential(best_path, fidelity=name))
        errors = [np.abs(calc.get_forces(a) - a.arrays[f"{name}_forces"]) for a in frames]
        np.testing.assert_allclose(tables[name]["forces"], 1000 * np.mean(np.concatenate(errors)), rtol=1e-3)
    assert abs(tables["high"]["forces"] - tables["low"]["forces"]) > 1.0


def test_fine_tuning_a_committee_into_another_size_is_a_config_error(mf_file, tmp_path):
    base = mlip.build_potential(mlip.ModelConfig(elements=("Cu", "Au"), fidelities=("low", "high"), avg_num_neighbors=12.0,
                                                 **MODEL), committee_size=2)
    base.save(tmp_path / "committee.pt")
    cfg = mf_config(mf_file, tmp_path / "ft", model={}, committee_size=3, init_from=str(tmp_path / "committee.pt"))
    with pytest.raises(ConfigError, match=r"committee_size = 3, but training.init_from .* is a committee of 2: set "
                                          r"committee_size to 2"):
        train(TrainConfig.from_dict(cfg))
    assert not (tmp_path / "ft" / "member_0" / "best.pt").exists()  # refused before any training


def test_config_built_in_python_with_numpy_numbers_is_written_as_plain_yaml(tmp_path):
    import numpy as np
    import yaml

    from mlip.train import TrainConfig

    cfg = TrainConfig.from_dict({"data": {"train": "x.extxyz", "n_valid": np.float64(0.2)}, "model": {"cutoff": np.float32(4.0)},
                                 "training": {"lr": np.float64(0.01), "epochs": 3}, "output": str(tmp_path)})
    text = yaml.safe_dump(cfg.to_dict())  # raised RepresenterError before
    back = yaml.safe_load(text)
    assert abs(back["training"]["lr"] - 0.01) < 1e-15 and back["training"]["epochs"] == 3
    assert isinstance(back["model"]["cutoff"], float)
