"""Training: error falls, resume == continuous, committees, fine-tuning, statistics, loss scales."""
import json

import numpy as np
import pytest
import torch

import mlip
from mlip.data import DataKeys, build_graphs, collate, compute_statistics, read_frames
from mlip.errors import ConfigError
from mlip.train import Loss, LossConfig, TrainConfig, train
from mlip.types import Prediction
from emt_fixtures import make_emt_frames, tiny_config


@pytest.mark.slow  # ~13 s: 6 training epochs
def test_tiny_training_lowers_the_validation_error(emt_file, tmp_path):
    cfg = TrainConfig.from_dict(tiny_config(emt_file, tmp_path, epochs=6))
    train(cfg)
    import csv

    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    first, last = float(rows[0]["valid_loss"]), min(float(r["valid_loss"]) for r in rows)
    assert last < 0.7 * first
    pot = mlip.load_potential(tmp_path / "best.pt")
    assert pot.info["best_epoch"] >= 1 and set(pot.elements) == {"Cu", "Au"}
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["n_test"] == 3 and report["forces_mae_meV/A"] > 0


@pytest.mark.slow  # ~22 s: two 4-epoch trainings
def test_resume_continues_exactly_like_an_uninterrupted_run(emt_file, tmp_path):
    full = TrainConfig.from_dict(tiny_config(emt_file, tmp_path / "full", epochs=4, scheduler="cosine"))
    train(full)
    part = tiny_config(emt_file, tmp_path / "part", epochs=4, scheduler="cosine")
    part["training"]["max_time_s"] = 1e-9  # stops after the first epoch, checkpoint written
    train(TrainConfig.from_dict(part))
    part["training"]["max_time_s"] = None
    train(TrainConfig.from_dict(part), resume=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert torch.equal(a["ema"][k], b["ema"][k]), k


@pytest.mark.slow  # ~16 s: trains a 2-member committee
def test_committee_spread_zero_for_identical_members_positive_otherwise(emt_file, tmp_path):
    cfg = tiny_config(emt_file, tmp_path / "c", epochs=2, committee_size=2)
    best = train(TrainConfig.from_dict(cfg))
    pot = mlip.load_potential(best)
    assert pot.committee_size == 2
    atoms = make_emt_frames(1, seed=9)[0]
    atoms.calc = mlip.MLIPCalculator(pot)
    atoms.get_potential_energy()
    assert atoms.calc.results["energy_std"] > 0 and (atoms.calc.results["forces_std"] > 0).all()
    same = mlip.train.assemble_committee([mlip.load_potential(tmp_path / "c" / "member_0" / "best.pt")] * 3)
    atoms.calc = mlip.MLIPCalculator(same)
    atoms.get_potential_energy()
    # identical members: the spread is zero up to float64 rounding of the committee mean
    # (members summed, then divided: a few ulp of |E| ~ 1e-15 eV), never exactly zero by design
    e_scale = max(1.0, abs(atoms.calc.results["energy"]))
    assert abs(atoms.calc.results["energy_std"]) < 1e-12 * e_scale
    assert np.abs(atoms.calc.results["forces_std"]).max() < 1e-12
    single = mlip.load_potential(tmp_path / "c" / "member_0" / "best.pt")
    atoms.calc = mlip.MLIPCalculator(single)
    np.testing.assert_allclose(atoms.get_potential_energy(), mlip.MLIPCalculator(same).get_potential_energy(atoms), rtol=1e-12)


@pytest.mark.slow  # ~5 s: trains, then fine-tunes
def test_fine_tuning_loads_freezes_and_refuses_new_elements(emt_file, tmp_path):
    base = train(TrainConfig.from_dict(tiny_config(emt_file, tmp_path / "base", epochs=1)))
    ft = tiny_config(emt_file, tmp_path / "ft", epochs=1, init_from=str(base), freeze=["model.terms.0.layers.0"])
    ft["model"] = {}
    train(TrainConfig.from_dict(ft))
    a, b = mlip.load_potential(base), mlip.load_potential(tmp_path / "ft" / "best.pt")
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa if k.startswith("model.terms.0.layers.0"))
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("model.terms.0.layers.1"))
    import ase, ase.io

    extra = make_emt_frames(9, seed=3)
    extra[0][0].symbol = "Ag"
    path = tmp_path / "ag.extxyz"
    ase.io.write(path, extra)
    bad = tiny_config(str(path), tmp_path / "ft2", init_from=str(base))
    bad["model"] = {}
    with pytest.raises(ConfigError, match=r"cannot add elements \['Ag'\]"):
        train(TrainConfig.from_dict(bad))


def test_statistics_recover_reference_energies_and_neighbours():
    frames = make_emt_frames(12)
    for f in frames:  # shift every energy by known per-element constants
        f.info["energy"] += 5.0 * (f.numbers == 29).sum() - 2.0 * (f.numbers == 79).sum()
    import ase.io, tempfile, os

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.extxyz")
        ase.io.write(p, frames)
        graphs = build_graphs(read_frames(p), 3.0)
    stats = compute_statistics(graphs, [29, 79])
    emt_cu = float(np.mean([f.info["energy"] for f in frames if (f.numbers == 79).sum() == 0])) / 4
    assert abs(stats.atomic_energies_eV[29] - emt_cu) < 0.05
    assert abs(stats.avg_num_neighbors - 12.0) < 1.0  # fcc first shell at 3.0 Å
    f_all = np.concatenate([f.arrays["forces"].ravel() for f in frames])
    assert abs(stats.force_rms_eV_per_A - np.sqrt(np.mean(f_all**2))) < 1e-8  # extxyz text precision


def test_loss_terms_are_scaled_by_their_data_scales(emt_file):
    graphs = build_graphs(read_frames(emt_file), 3.5)[:2]
    batch = collate(graphs, torch.float64)
    pred = Prediction(batch.energy + 0.4 * batch.n_atoms, batch.forces + 0.3, batch.stress + 0.02)
    loss = Loss(LossConfig(energy_weight=1, forces_weight=1, stress_weight=1), 0.2, 0.1, 0.01)
    total, parts = loss(pred, batch)
    assert parts["energy"].item() == pytest.approx(4.0)
    assert parts["forces"].item() == pytest.approx(9.0)
    assert parts["stress"].item() == pytest.approx(4.0)
    assert total.item() == pytest.approx(17.0)
    huber = Loss(LossConfig(kind="huber", huber_delta=1.0), 0.2, 0.1, 0.01)(pred, batch)[1]["forces"].item()
    assert huber == pytest.approx(3.0 - 0.5)  # |x|=3 > delta: delta*(|x| - delta/2)
