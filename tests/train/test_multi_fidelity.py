"""Multi-fidelity potentials: f_high = ρ·f_low + δ, per-fidelity inference, files, errors, eval.

A tiny two-fidelity model ("low", "high") on 4-atom Cu/Au cells. The toy with a known answer:
labels of the low fidelity are a frozen network's own low-fidelity predictions, and the high
fidelity is exactly 2 × (low − its reference energies) + other reference energies, so training
ρ and the high fidelity's reference energies must find ρ = 2 for both elements.
"""
import ase.io
import numpy as np
import pytest
import torch

import mlip
from mlip.errors import ConfigError, DataError, UnknownFidelityError
from mlip.train import TrainConfig, train
from emt_fixtures import make_emt_frames

CONFIG = dict(elements=("Cu", "Au"), cutoff=3.5, l_max=1, channels=4, n_layers=2, radial_hidden=8, readout_hidden=4,
              avg_num_neighbors=12.0, fidelities=("low", "high"))
E0_LOW = [-3.0, -2.5]     # eV per Cu, Au: the low level's reference energies
E0_HIGH = [-30.0, -40.0]  # the high level's: far from the low ones, as xTB vs DFT


def mf_potential(seed=3, randomise_high=False, **overrides):
    pot = mlip.build_potential(mlip.ModelConfig(**{**CONFIG, **overrides}), dtype=torch.float64, seed=seed)
    model = pot.model.terms[0]
    with torch.no_grad():
        model.readout.scale.fill_(0.3)
        model.readout.shift.copy_(torch.tensor(E0_LOW, dtype=torch.float64))
        model.heads[0].shift.copy_(torch.tensor(E0_HIGH, dtype=torch.float64))
        if randomise_high:  # a non-trivial δ and ρ: every part of the chain matters
            g = torch.Generator().manual_seed(seed)
            model.heads[0].w2.copy_(torch.randn(model.heads[0].w2.shape, generator=g, dtype=torch.float64))
            model.heads[0].scale.fill_(0.2)
            if isinstance(model.rho, torch.nn.Parameter):
                model.rho.copy_(torch.tensor([[1.7, 0.6]], dtype=torch.float64))
    return pot


def predict(pot, atoms_list, fidelity=None, stress=False):
    system = mlip.system_from_atoms(atoms_list, dtype=pot.dtype)
    edges = mlip.neighbor_list(system, pot.cutoff)
    return pot(system, edges, compute_stress=stress, fidelity=fidelity)


def labelled_toy_file(path, teacher, n=16):
    """EMT cells labelled by ``teacher``: low = its low fidelity, high = 2 (low − E0_low) + E0_high."""
    frames = make_emt_frames(n, seed=5)
    teacher.set_fidelity("low")
    for atoms in frames:
        p = predict(teacher, [atoms])
        z = atoms.numbers
        e0_low = sum(E0_LOW[0] if x == 29 else E0_LOW[1] for x in z)
        e0_high = sum(E0_HIGH[0] if x == 29 else E0_HIGH[1] for x in z)
        atoms.info["low_energy"] = float(p.energy[0])
        atoms.arrays["low_forces"] = p.forces.numpy().copy()
        atoms.info["high_energy"] = 2.0 * (float(p.energy[0]) - e0_low) + e0_high
        atoms.arrays["high_forces"] = 2.0 * p.forces.numpy()
        for key in ("energy", "stress"):
            atoms.info.pop(key, None)
        atoms.arrays.pop("forces", None)
    teacher.set_fidelity(None)
    ase.io.write(path, frames)
    return str(path)


FIDELITY_KEYS = {"low": {"energy": "low_energy", "forces": "low_forces"}, "high": {"energy": "high_energy", "forces": "high_forces"}}


def test_chain_algebra_reference_energies_and_forces_per_fidelity():
    """f_high = ρ[Z](f_low − E0_low[Z]) + δ: with δ's network at zero the two fidelities differ by
    the reference energies alone (ρ = 1) or, with ρ = 2 for all elements, the forces double."""
    pot = mf_potential()
    atoms = make_emt_frames(2, seed=1)
    low, high = predict(pot, atoms, ["low", "low"]), predict(pot, atoms, ["high", "high"])
    n_cu = np.array([np.sum(a.numbers == 29) for a in atoms])
    n_au = np.array([np.sum(a.numbers == 79) for a in atoms])
    shift = n_cu * (E0_HIGH[0] - E0_LOW[0]) + n_au * (E0_HIGH[1] - E0_LOW[1])
    np.testing.assert_allclose((high.energy - low.energy).numpy(), shift, rtol=0, atol=1e-9)
    np.testing.assert_allclose(high.forces.numpy(), low.forces.numpy(), rtol=0, atol=1e-12)
    with torch.no_grad():
        pot.model.terms[0].rho.fill_(2.0)
    high2 = predict(pot, atoms, ["high", "high"])
    ref_low = low.energy.numpy() - (n_cu * E0_LOW[0] + n_au * E0_LOW[1])
    np.testing.assert_allclose(high2.energy.numpy(), 2 * ref_low + n_cu * E0_HIGH[0] + n_au * E0_HIGH[1], rtol=1e-12)
    np.testing.assert_allclose(high2.forces.numpy(), 2 * low.forces.numpy(), rtol=1e-12, atol=1e-12)
    # independent heads: ρ is a fixed 0 (not a parameter), the high level is δ alone
    heads = mf_potential(fidelity_coupling="heads")
    assert "model.terms.0.rho" not in dict(heads.named_parameters()) and int(torch.count_nonzero(heads.model.terms[0].rho)) == 0
    with torch.no_grad():
        heads.model.terms[0].readout.w2.mul_(3.0)  # changes the low level only
    np.testing.assert_allclose(predict(heads, atoms, ["high", "high"]).energy.numpy(),
                               n_cu * E0_HIGH[0] + n_au * E0_HIGH[1], rtol=1e-12)


@pytest.mark.slow  # ~10 s: 40 short epochs of a frozen tiny model
def test_training_recovers_rho_2_on_a_toy_with_a_known_answer(tmp_path):
    teacher = mf_potential()
    data = labelled_toy_file(tmp_path / "toy.extxyz", teacher)
    teacher.save(tmp_path / "teacher.pt")
    # only ρ and the high level's reference energies train; the loss is the forces' (in cells of
    # nearly one composition the energies cannot tell ρ·Σe from the reference energies, the
    # forces can), so the answer, ρ = 2 for Cu and Au, is the one zero of a quadratic loss
    trainable = ("model.terms.0.rho", "model.terms.0.heads.0.shift")
    freeze = sorted({n for n, _ in teacher.named_parameters() if n not in trainable})
    cfg = TrainConfig.from_dict({
        "data": {"train": data, "n_valid": 2, "n_test": 2, "fidelities": FIDELITY_KEYS},
        "model": {},
        "training": {"epochs": 40, "batch_size": 4, "lr": 0.05, "dtype": "float64", "progress": False, "ema_decay": 0.0,
                     "scheduler": "cosine", "init_from": str(tmp_path / "teacher.pt"), "freeze": freeze,
                     "early_stopping_patience": None, "loss": {"energy_weight": 0.0, "forces_weight": 1.0}},
        "output": str(tmp_path / "run"),
    })
    best = mlip.load_potential(train(cfg))
    model = best.model.terms[0]
    np.testing.assert_allclose(model.rho.detach().numpy(), [[2.0, 2.0]], atol=0.01)
    assert torch.equal(model.readout.shift, teacher.model.terms[0].readout.shift)  # frozen parts stayed
    # with ρ found, the high fidelity's energies follow: ρ acts on energies relative to the
    # low level's reference energies, and the high level keeps its own
    frames = ase.io.read(data, ":")
    high = predict(best, frames).energy.numpy()
    np.testing.assert_allclose(high, [a.info["high_energy"] for a in frames], atol=0.01 * 4)


def test_unknown_fidelity_is_a_clear_error_listing_the_known_ones(tmp_path):
    pot = mf_potential()
    known = "['low', 'high'] (lowest to highest; default 'high')"
    with pytest.raises(UnknownFidelityError, match=r"unknown fidelity 'pbe': this potential knows \['low', 'high'\]") as err:
        mlip.MLIPCalculator(pot, fidelity="pbe")
    assert known in str(err.value)
    pot.save(tmp_path / "mf.pt")
    with pytest.raises(UnknownFidelityError, match="'pbe'"):
        mlip.load_potential(tmp_path / "mf.pt", fidelity="pbe")
    from mlip.export import export_lammps

    with pytest.raises(UnknownFidelityError, match="knows"):
        export_lammps(pot, tmp_path / "x.pt", fidelity="pbe")
    with pytest.raises(UnknownFidelityError, match="fidelity label 'ccsd'"):  # a frame's label in a mixed batch
        predict(pot, make_emt_frames(2), ["high", "ccsd"])
    single = mlip.build_potential(mlip.ModelConfig(**{**CONFIG, "fidelities": ()}))
    with pytest.raises(UnknownFidelityError, match="single-fidelity potential"):
        single.set_fidelity("high")
    assert single.fidelity is None and single.fidelities == ()
    from mlip.cli import main

    assert main(["md", "--potential", str(tmp_path / "mf.pt"), "--structure", str(tmp_path / "s.xyz"), "--fidelity", "pbe",
                 "--output", str(tmp_path / "md")]) == 2
    with pytest.raises(ConfigError, match="at least two fidelities"):
        mlip.ModelConfig(**{**CONFIG, "fidelities": ("high",)})


def test_fidelity_labels_in_data_select_frames_and_unknown_labels_are_named(tmp_path):
    frames = make_emt_frames(6, seed=2)
    for k, atoms in enumerate(frames):
        atoms.info["level"] = "low" if k % 2 else "high"
    path = tmp_path / "labelled.extxyz"
    ase.io.write(path, frames)
    from mlip.data.fidelities import parse_fidelities, read_structures

    specs = parse_fidelities({"low": {}, "high": {}}, {})
    structures = read_structures(str(path), ":", specs, "level")
    assert [s[0].fidelity for s in structures] == ["high", "low"] * 3 and all(len(s) == 1 for s in structures)
    frames[3].info["level"] = "ccsd"
    ase.io.write(path, frames)
    with pytest.raises(DataError, match=r"labelled.extxyz:3: fidelity label 'ccsd' is not one of data.fidelities \['low', 'high'\]"):
        read_structures(str(path), ":", specs, "level")
    with pytest.raises(ConfigError, match="unknown option"):
        parse_fidelities({"low": {"energy_key": "e"}}, {})
    from mlip.train.setup import prepare_data

    with pytest.raises(ConfigError, match="data.fidelities"):  # a label key without the fidelities
        prepare_data(TrainConfig.from_dict({"data": {"train": str(path), "keys": {"fidelity": "level"}},
                                            "model": {"cutoff": 3.0}, "training": {}, "output": str(tmp_path / "x")}))


def test_save_load_torchscript_and_lammps_export_per_fidelity(tmp_path):
    from mlip.export import export_lammps, read_lammps_metadata

    pot = mf_potential(randomise_high=True)
    atoms = make_emt_frames(1, seed=4)
    pot.save(tmp_path / "mf.pt")
    for name in ("low", "high"):
        ref = predict(pot.set_fidelity(name), atoms, stress=True)
        loaded = mlip.load_potential(tmp_path / "mf.pt", fidelity=name)
        assert loaded.fidelity == name and loaded.fidelities == ("low", "high")
        got = predict(loaded, atoms, stress=True)
        torch.testing.assert_close(got.energy, ref.energy, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got.forces, ref.forces, rtol=1e-12, atol=1e-12)
        scripted = torch.jit.script(loaded.model)  # the fidelity is baked in
        system = mlip.system_from_atoms(atoms, dtype=torch.float64)
        ts = scripted(system, mlip.neighbor_list(system, pot.cutoff), True, True, False)
        torch.testing.assert_close(ts.energy, ref.energy, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ts.stress, ref.stress, rtol=1e-10, atol=1e-12)
        out = export_lammps(pot, tmp_path / f"lammps_{name}.pt", fidelity=name)  # compiled vs eager checked inside
        meta = read_lammps_metadata(out)
        assert meta["fidelity"] == name and meta["fidelities"] == ["low", "high"]
    assert abs(float(predict(pot.set_fidelity("low"), atoms).energy - predict(pot.set_fidelity("high"), atoms).energy)) > 1.0
    pot.set_fidelity("low").save(tmp_path / "low.pt")  # the selection is saved with the file
    assert mlip.load_potential(tmp_path / "low.pt").fidelity == "low"
    assert mlip.load_potential(tmp_path / "mf.pt").fidelity == "high"  # default: the highest


@pytest.mark.parametrize("fidelity", ["low", "high"])
def test_each_fidelity_is_equivariant_and_its_forces_are_minus_the_energy_gradient(fidelity):
    pot = mf_potential(randomise_high=True).set_fidelity(fidelity)
    atoms = make_emt_frames(1, seed=6)[0]
    rng = np.random.default_rng(0)
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    rot = (q * np.sign(np.diag(r))) @ np.diag([1.0, 1.0, -1.0])  # a rotation-reflection
    moved = atoms.copy()
    moved.positions = atoms.positions @ rot.T + [0.3, -1.1, 2.0]
    moved.set_cell(np.asarray(atoms.cell) @ rot.T, scale_atoms=False)
    p0, p1 = predict(pot, [atoms], stress=True), predict(pot, [moved], stress=True)
    assert abs(float(p1.energy - p0.energy)) < 1e-10 * abs(float(p0.energy))
    np.testing.assert_allclose(p1.forces.numpy(), p0.forces.numpy() @ rot.T, atol=1e-10)
    np.testing.assert_allclose(p1.stress[0].numpy(), rot @ p0.stress[0].numpy() @ rot.T, atol=1e-10)
    h = 1e-5
    for atom, axis in ((0, 0), (2, 1), (3, 2)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        numeric = -(float(predict(pot, [plus]).energy) - float(predict(pot, [minus]).energy)) / (2 * h)
        assert abs(numeric - float(p0.forces[atom, axis])) < 1e-6 * max(1.0, abs(numeric))


def test_mixed_batches_and_committees_evaluate_each_system_at_its_fidelity():
    a, b = mf_potential(seed=3, randomise_high=True), mf_potential(seed=4, randomise_high=True)
    atoms = make_emt_frames(3, seed=8)
    committee = mlip.train.assemble_committee([a, b])
    for pot in (a, committee):
        mixed = predict(pot, atoms, ["low", None, "high"])  # None: the selected (default: highest)
        one = [predict(pot, [x], [f]) for x, f in zip(atoms, ["low", "high", "high"])]
        np.testing.assert_allclose(mixed.energy.numpy(), [float(p.energy) for p in one], rtol=1e-12)
        np.testing.assert_allclose(mixed.forces.numpy(), np.concatenate([p.forces.numpy() for p in one]), atol=1e-12)
    for name in ("low", "high"):
        mean = (predict(a, atoms, [name] * 3).energy + predict(b, atoms, [name] * 3).energy) / 2
        torch.testing.assert_close(predict(committee.set_fidelity(name), atoms).energy, mean, rtol=1e-12, atol=1e-12)
        atoms[0].calc = mlip.MLIPCalculator(committee, fidelity=name)
        assert abs(atoms[0].get_potential_energy() - float(mean[0])) < 1e-9
        assert atoms[0].calc.results["energy_std"] > 0


def test_eval_reports_errors_per_fidelity(tmp_path, capsys):
    from mlip.cli import main

    teacher = mf_potential()
    data = labelled_toy_file(tmp_path / "toy.extxyz", teacher, n=4)
    teacher.save(tmp_path / "mf.pt")
    assert main(["eval", str(tmp_path / "mf.pt"), data, "--fidelity-keys", "low=low_energy,low_forces",
                 "--fidelity-keys", "high=high_energy,high_forces"]) == 0
    out = capsys.readouterr().out
    low, high = out.split("fidelity low:")[1].split("fidelity high:")
    # the low labels are the potential's own predictions; the high labels are not (ρ = 1, not 2)
    assert float(low.split("forces")[1].split()[0]) < 1e-3  # meV/Å: the file's 8 decimals
    assert float(high.split("forces")[1].split()[0]) > 1.0
    assert main(["eval", str(tmp_path / "mf.pt"), data, "--fidelity", "low", "--energy-key", "low_energy",
                 "--forces-key", "low_forces", "--stress-key", "none"]) == 0
    assert "fidelity low:" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "mf.pt"), data, "--fidelity-keys", "pbe=low_energy,low_forces"]) == 2
    assert "unknown fidelity 'pbe'" in capsys.readouterr().err


@pytest.mark.slow  # ~8 s: a 2-epoch multi-fidelity training with a ZBL baseline, then md at one fidelity
def test_training_with_a_baseline_reports_per_fidelity_and_md_runs_the_chosen_fidelity(tmp_path):
    import json

    teacher = mf_potential()
    data = labelled_toy_file(tmp_path / "toy.extxyz", teacher, n=10)
    cfg = TrainConfig.from_dict({
        "data": {"train": data, "n_valid": 2, "n_test": 2, "fidelities": {**FIDELITY_KEYS, "high": {**FIDELITY_KEYS["high"], "n_train": 3}}},
        "model": {k: v for k, v in CONFIG.items() if k not in ("elements", "fidelities")} | {"baselines": [{"kind": "zbl"}]},
        "training": {"epochs": 2, "batch_size": 4, "dtype": "float64", "progress": False},
        "output": str(tmp_path / "run"),
    })
    best = train(cfg)
    report = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert report["n_train_low"] == 6 and report["n_train_high"] == 3 and report["n_test_high"] == 2
    assert report["high_forces_mae_meV/A"] > 0 and report["low_forces_mae_meV/A"] > 0
    pot = mlip.load_potential(best)
    assert pot.fidelities == ("low", "high") and [s["kind"] for s in pot.baseline_specs] == ["zbl"]
    from mlip.cli import main

    structure = tmp_path / "cell.extxyz"
    ase.io.write(structure, make_emt_frames(1, seed=9)[0])
    assert main(["md", "--potential", str(best), "--structure", str(structure), "--fidelity", "low", "--steps", "4",
                 "--output", str(tmp_path / "md"), "--temperature-K", "100"]) == 0
    import yaml

    assert yaml.safe_load((tmp_path / "md" / "config.yaml").read_text())["fidelity"] == "low"


def test_one_mixed_pass_gives_each_fidelitys_metrics_as_its_frames_alone(tmp_path):
    """Validation and `mlip eval` score mixed-fidelity batches in one pass: each fidelity's
    metrics equal those of its frames evaluated alone, and the pooled ones those of all errors."""
    from mlip.data import build_graphs
    from mlip.train.fidelity_metrics import evaluate_by_fidelity, evaluate_with_fidelities, read_fidelity_frames
    from mlip.train.metrics import evaluate

    pot = mf_potential(randomise_high=True)
    data = labelled_toy_file(tmp_path / "toy.extxyz", mf_potential(seed=5), n=5)
    frames = read_fidelity_frames(data, ":", ["low=low_energy,low_forces", "high=high_energy,high_forces"], "eV", ["low", "high"])
    graphs = build_graphs(frames, pot.cutoff)
    assert [g.frame.fidelity for g in graphs][:4] == ["low", "high", "low", "high"]  # batches of 3 mix them
    mixed = evaluate_with_fidelities(pot, graphs, batch_size=3)
    per = evaluate_by_fidelity(pot, graphs, batch_size=3, keep_values=True)
    assert list(per) == ["low", "high"]
    for name in ("low", "high"):
        alone = evaluate(pot.set_fidelity(name), [g for g in graphs if g.frame.fidelity == name], batch_size=2)
        for key, value in alone.items():
            assert mixed[f"{name}_{key}"] == pytest.approx(value, rel=1e-10)
            assert per[name][key] == pytest.approx(value, rel=1e-10)
    pot.set_fidelity(None)
    errors = np.concatenate([per[n]["_values"]["forces_pred"] - per[n]["_values"]["forces_ref"] for n in per]) * 1000
    assert mixed["forces_mae_meV/A"] == pytest.approx(np.abs(errors).mean(), rel=1e-10)
    assert mixed["forces_rmse_meV/A"] == pytest.approx(np.sqrt((errors**2).mean()), rel=1e-10)
    assert mixed["energy_mae_meV/atom"] > 0 and "stress_mae_meV/A3" not in mixed


def test_balance_fidelities_repeats_scarce_frames_up_to_the_given_share(tmp_path):
    """true: each fidelity about as many frames as the most numerous; a share s: up to s times
    that; false: no repeats. Bad values are clear errors."""
    from mlip.train.config import DataConfig
    from mlip.train.setup import prepare_data

    teacher = mf_potential()
    data = labelled_toy_file(tmp_path / "toy.extxyz", teacher, n=24)
    fid = {**FIDELITY_KEYS, "high": {**FIDELITY_KEYS["high"], "n_train": 2}}
    counts = {}
    for share in (True, 0.5, 0.3, False):
        cfg = TrainConfig.from_dict({"data": {"train": data, "n_valid": 2, "n_test": 2, "fidelities": fid,
                                              "balance_fidelities": share},
                                     "model": {k: v for k, v in CONFIG.items() if k not in ("elements", "fidelities")},
                                     "training": {"dtype": "float64"}, "output": str(tmp_path / "run")})
        train = prepare_data(cfg).train
        counts[share] = {name: sum(g.frame.fidelity == name for g in train) for name in ("low", "high")}
    n_low = counts[True]["low"]
    assert n_low == 20 and all(c["low"] == n_low for c in counts.values())  # the abundant level is never repeated
    assert [counts[s]["high"] for s in (True, 0.5, 0.3, False)] == [20, 10, 6, 2]  # 2 x round(s * 20 / 2)
    for bad in (1.5, -0.1, "half"):
        with pytest.raises(ConfigError, match="data.balance_fidelities must be true, false or a number in"):
            DataConfig(train=data, balance_fidelities=bad)
