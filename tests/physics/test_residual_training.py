"""Training on the residual: baseline labels cached per data file (invalidated on change), the
network learns target − baseline, the saved potential and the test report are of the total;
charges trained from reference charges; bad labels refused."""
import json

import ase
import ase.build
import ase.io
import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

import mlip
from mlip.data import DataKeys, read_frames
from mlip.data.baseline_cache import cached_baseline_labels
from mlip.errors import DataError
from mlip.train import TrainConfig, train
from physics_systems import random_cluster, single_thread  # noqa: F401

LJ = {"kind": "lennard_jones", "epsilon": 0.005, "sigma": 2.3, "cutoff": 4.0}


def emt_plus_lj_frames(n=12, seed=0):
    """Cu/Au frames labelled with EMT + a small LJ term (so the residual of [EMT, LJ] is 0)."""
    lj = mlip.build_potential(mlip.ModelConfig(elements=("Cu", "Au"), cutoff=3.0, channels=2, n_layers=1), baselines=[LJ]).model.terms[1]
    model = mlip.models.force_model.ForceModel([lj])
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = ase.build.bulk("Cu", "fcc", a=3.61 + rng.uniform(-0.05, 0.05), cubic=True)
        if k % 2:
            a[0].symbol = "Au"
        a.rattle(0.08, seed=seed * 100 + k)
        a.calc = EMT()
        s = mlip.system_from_atoms(a)
        p = model(s, mlip.neighbor_list(s, 4.0), True, True, False)
        a.info["energy"] = a.get_potential_energy() + float(p.energy)
        a.arrays["forces"] = a.get_forces() + p.forces.numpy()
        a.info["emt_energy"] = a.get_potential_energy()
        a.arrays["emt_forces"] = a.get_forces()
        a.calc = None
        frames.append(a)
    return frames


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "cuau.extxyz"
    ase.io.write(path, emt_plus_lj_frames())
    return str(path)


def config(data_file, out, baselines, keys=None, **training):
    t = {"epochs": 2, "batch_size": 4, "lr": 0.01, "dtype": "float64", "progress": False, "loss": {"stress_weight": 0.0}}
    t.update(training)
    return TrainConfig.from_dict({
        "data": {"train": data_file, "n_valid": 2, "n_test": 3, "keys": keys or {}},
        "model": {"cutoff": 3.0, "l_max": 1, "channels": 4, "n_layers": 1, "radial_hidden": 4, "readout_hidden": 4, "baselines": baselines},
        "training": t,
        "output": str(out),
    })


@pytest.mark.parametrize("from_file", [False, True], ids=["computed_and_cached", "labels_from_file"])
def test_residual_training_reports_errors_of_the_total_and_saves_the_baselines(data_file, tmp_path, from_file):
    keys = {"baseline_energy": "emt_energy", "baseline_forces": "emt_forces"} if from_file else None
    best = train(config(data_file, tmp_path / "run", [LJ, {"kind": "ase", "calculator": "emt"}], keys))
    report = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    # residual = 0 exactly: the network (its scale set by the residual force RMS, floored at
    # 1 meV/Å) adds ~ 1 meV; without the baselines the errors would be eV-sized
    assert report["energy_mae_meV/atom"] < 5 and report["forces_mae_meV/A"] < 5
    pot = mlip.load_potential(best)
    assert pot.metadata()["external_baseline"]["calculator"] == "emt" and pot.baseline_specs[0]["kind"] == "lennard_jones"
    cached = list(tmp_path.glob(".cuau.extxyz.baseline-*.npz"))
    assert len(cached) == 1


def test_baseline_cache_is_reused_and_invalidated_by_data_or_settings(data_file):
    frames = read_frames(data_file)
    calls = []

    def compute(fr):
        calls.append(len(fr))
        return [{"energy": 1.0, "forces": np.zeros((f.n_atoms, 3)), "stress": None} for f in fr]

    cached_baseline_labels(data_file, frames, {"spec": "a"}, compute)
    cached_baseline_labels(data_file, frames, {"spec": "a"}, compute)
    assert calls == [len(frames)]
    cached_baseline_labels(data_file, frames, {"spec": "b"}, compute)  # other settings
    assert len(calls) == 2
    with open(data_file, "a") as f:  # the data changed
        f.write("\n")
    cached_baseline_labels(data_file, frames, {"spec": "a"}, compute)
    assert len(calls) == 3


def ionic_cluster_frames(n=8, charged=False):
    frames = []
    for k in range(n):
        a = random_cluster(6, seed=10 + k, box=6.0, min_dist=2.2)
        q = np.where(a.numbers == 11, 0.7, -0.7)
        if charged:
            q[0] += 1.0
            a.info["total_charge"] = 1.0
        a.arrays["ref_charges"] = q
        a.info["energy"] = float(-0.5 * k)
        a.arrays["forces"] = np.zeros((len(a), 3))
        a.info["dipole"] = (q[:, None] * a.positions).sum(axis=0)
        frames.append(a)
    return frames


def test_charges_are_trained_from_reference_charges_and_dipoles(tmp_path):
    path = tmp_path / "nacl.extxyz"
    ase.io.write(path, ionic_cluster_frames())
    cfg = TrainConfig.from_dict({
        "data": {"train": str(path), "n_valid": 2, "keys": {"charges": "ref_charges", "dipole": "dipole"}},
        "model": {"cutoff": 3.0, "l_max": 0, "channels": 4, "n_layers": 1, "radial_hidden": 4, "readout_hidden": 4, "long_range": "coulomb"},
        "training": {"epochs": 12, "batch_size": 3, "lr": 0.05, "dtype": "float64", "progress": False,
                     "loss": {"energy_weight": 0.0, "forces_weight": 0.0}},
        "output": str(tmp_path / "run"),
    })
    best = train(cfg)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    first, last = (dict(zip(header, r.split(","))) for r in (rows[1], rows[-1]))
    assert float(last["train_loss_charges"]) < 0.5 * float(first["train_loss_charges"])
    assert "train_loss_dipole" in header
    pot = mlip.load_potential(best)
    s = mlip.system_from_atoms(ionic_cluster_frames(1)[0])
    q = pot.charges(s, mlip.neighbor_list(s, pot.cutoff))
    assert float(q[s.atomic_numbers == 11].mean()) > 0.2  # moved from ~0 towards +0.7


def test_reference_charges_of_a_charged_frame_without_stated_total_charge_are_refused(tmp_path):
    frames = ionic_cluster_frames(2, charged=True)
    del frames[1].info["total_charge"]
    path = tmp_path / "charged.extxyz"
    ase.io.write(path, frames)
    with pytest.raises(DataError, match=r"charged.extxyz:1: the reference charges sum to \+1.0000 e but the total charge is not stated"):
        read_frames(str(path), DataKeys(charges="ref_charges"))
    assert read_frames(str(path), DataKeys(charges="ref_charges"), index="0")[0].total_charge == 1.0


def test_committee_of_potentials_with_baselines_keeps_the_baselines():
    from mlip.train import assemble_committee

    cfg = mlip.ModelConfig(elements=("Cu", "Au"), cutoff=3.0, l_max=1, channels=4, n_layers=1, radial_hidden=4, readout_hidden=4)
    members = [mlip.build_potential(cfg, seed=k, baselines=[LJ, {"kind": "ase", "calculator": "emt"}]) for k in range(2)]
    committee = assemble_committee(members)
    assert committee.baseline_specs == members[0].baseline_specs and committee.external.spec == members[0].external.spec
    s = mlip.system_from_atoms(emt_plus_lj_frames(1)[0])
    e = mlip.neighbor_list(s, committee.cutoff)
    mean = sum(float(m(s, e).energy) for m in members) / 2
    assert float(committee(s, e).energy) == pytest.approx(mean, rel=1e-12)


def test_fine_tuning_keeps_the_baselines_of_the_starting_potential(data_file, tmp_path):
    best = train(config(data_file, tmp_path / "base", [LJ, {"kind": "ase", "calculator": "emt"}], epochs=1))
    d = config(data_file, tmp_path / "tuned", [], epochs=1).to_dict()
    d["model"] = {}
    d["training"]["init_from"] = str(best)
    tuned = mlip.load_potential(train(TrainConfig.from_dict(d)))
    assert tuned.baseline_specs[0]["kind"] == "lennard_jones" and tuned.external.spec["calculator"] == "emt"
    report = json.loads((tmp_path / "tuned" / "test_metrics.json").read_text())
    assert report["forces_mae_meV/A"] < 5
