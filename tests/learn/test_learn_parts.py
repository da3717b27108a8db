"""The loop's parts: the oracle refuses bad labels naming the frame, conditions build the
systems they describe, selection keeps σ-passing, diverse frames, and the config is strict."""
from __future__ import annotations

import os

import ase.build
import numpy as np
import pytest

from learn_fixtures import write_setup
from mlip.errors import ConfigError
from mlip.learn import LearnConfig, Oracle, OracleError, learn
from mlip.learn.conditions import build_condition
from mlip.learn.select import descriptor, farthest_point, select


def _script(tmp_path, body):
    path = tmp_path / "bad_oracle.py"
    path.write_text("import numpy as np\n\ndef label(atoms):\n    n = len(atoms)\n" + body)
    return Oracle(script=f"{path}:label")


@pytest.mark.parametrize("body, match", [
    ("    return {'energy': 1.0, 'forces': np.full((n, 3), np.nan)}\n", r"non-finite forces on 4 atom\(s\).*frame f7"),
    ("    return {'energy': float('nan'), 'forces': np.zeros((n, 3))}\n", r"non-finite energy.*frame f7"),
    ("    return {'energy': 1.0, 'forces': np.zeros((n - 1, 3))}\n", r"shape \(3, 3\) for frame f7, which has 4 atoms"),
    ("    return {'energy': 1.0}\n", r"no forces for frame f7"),
    ("    return {'energy': 1.0, 'forces': np.zeros((n, 3)), 'stress': [1.0, 2.0]}\n", r"stress .* frame f7"),
    ("    return [1.0]\n", r"returned list for frame f7"),
    ("    raise RuntimeError('SCF did not converge')\n", r"failed on frame f7: RuntimeError: SCF did not converge"),
])
def test_oracle_refuses_bad_labels_naming_the_frame(tmp_path, body, match):
    oracle = _script(tmp_path, body)
    with pytest.raises(OracleError, match=match):
        oracle.label(ase.build.bulk("Cu", cubic=True), "f7")


def test_oracle_by_import_path_gives_the_calculators_labels():
    from ase.calculators.emt import EMT

    atoms = ase.build.bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=1)
    labels = Oracle(calculator="ase.calculators.emt:EMT").label(atoms, "x")
    atoms.calc = EMT()
    assert abs(labels.energy_eV - atoms.get_potential_energy()) < 1e-12
    np.testing.assert_allclose(labels.forces, atoms.get_forces(), atol=1e-12)
    np.testing.assert_allclose(labels.stress, atoms.get_stress(), atol=1e-12)
    with pytest.raises(ConfigError, match="cannot import"):
        Oracle(calculator="no_such_module_xyz:Calc")


def test_loop_stops_on_a_bad_oracle_naming_the_frame(tmp_path):
    (tmp_path / "nan_oracle.py").write_text(
        "import numpy as np\n\ndef label(atoms):\n    return {'energy': 0.0, 'forces': np.full((len(atoms), 3), np.nan)}\n")
    path = write_setup(tmp_path, oracle={"script": "nan_oracle.py:label"})
    with pytest.raises(OracleError, match=r"frame initial 0 \(start 0 rattled\)"):
        learn(LearnConfig.from_yaml(path), say=lambda line: None)
    assert not os.path.exists(tmp_path / "out" / "labelled.extxyz")  # nothing half-written


def test_conditions_build_what_they_describe():
    start = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True)
    spec = {"structure": 0, "temperature_K": 800, "steps": 10, "repeat": [2, 2, 2], "vacancies": 2,
            "substitute": {"from": "Cu", "to": "Au", "fraction": 0.25}, "strain": 0.02, "shear": 0.05}
    c = build_condition(spec, 0, [start], np.random.default_rng(1), "langevin")
    assert len(c.atoms) == 30 and 6 <= (c.atoms.numbers == 79).sum() <= 8  # 8 of 32 substituted, then 2 removed
    cell = np.array(c.atoms.cell)
    np.testing.assert_allclose(cell[0], [7.2 * 1.02, 0, 0], atol=1e-12)
    np.testing.assert_allclose(cell[1], [0.05 * 7.2 * 1.02, 7.2 * 1.02, 0], atol=1e-12)  # triclinic
    again = build_condition(spec, 0, [start], np.random.default_rng(1), "langevin")
    np.testing.assert_array_equal(again.atoms.numbers, c.atoms.numbers)
    assert build_condition({**spec, "pressure_GPa": 0.0}, 0, [start], np.random.default_rng(1), "langevin").ensemble == "npt"
    for bad, match in (({"structure": 3}, "index 0..0"), ({"vacancies": 4}, "vacancies"),
                       ({"substitute": {"from": "Xx", "to": "Au", "fraction": 0.1}}, "unknown element"),
                       ({"ensemble": "npt"}, "needs pressure_GPa")):
        with pytest.raises(ConfigError, match=match):
            build_condition({"temperature_K": 300, "steps": 1, **bad}, 0, [start], np.random.default_rng(0), "langevin")


def test_selection_keeps_uncertain_and_diverse_frames():
    rng = np.random.default_rng(0)
    sigma = np.array([0.01, 0.2, 0.21, 0.3, 0.02, 0.25])
    features = np.array([[0.0], [1.0], [1.001], [5.0], [9.0], [1.002]])  # frames 1, 2, 5 are near-duplicates
    picked = select(sigma, features, np.zeros((0, 1)), 0.1, 2, "uncertainty", rng)
    assert picked == [1, 3] or picked == [2, 3] or picked == [3, 5]
    assert 3 in picked  # the most uncertain first, then the farthest of the rest
    assert select(sigma, features, np.zeros((0, 1)), 0.5, 2, "uncertainty", rng) == []
    # an upper trust level drops the most uncertain frame (3) from the candidates
    assert 3 not in select(sigma, features, np.zeros((0, 1)), 0.1, 2, "uncertainty", rng, max_sigma_eV_per_A=0.28)
    # frames near an already-labelled one are not picked again
    assert farthest_point(features[[1, 3]], sigma[[1, 3]], np.array([[5.0]]), 2) == [1, 0]
    random_pick = select(sigma, features, np.zeros((0, 1)), 10.0, 4, "random", np.random.default_rng(3))
    assert len(random_pick) == 4 and len(set(random_pick)) == 4  # random ignores σ


def test_descriptor_is_invariant_and_discriminates():
    atoms = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.numbers[[0, 5]] = 79
    atoms.rattle(0.05, seed=2)
    d = descriptor(atoms, [29, 79], 5.0)
    moved = atoms.copy()
    moved.positions += [0.3, -0.2, 1.1]
    moved = moved[np.random.default_rng(4).permutation(len(moved))]
    np.testing.assert_allclose(descriptor(moved, [29, 79], 5.0), d, atol=1e-10)
    strained = atoms.copy()
    strained.set_cell(atoms.cell * 1.05, scale_atoms=True)
    assert np.linalg.norm(descriptor(strained, [29, 79], 5.0) - d) > 0.1 * np.linalg.norm(d) / 10


@pytest.mark.parametrize("section, value, match", [
    ("train", {"config": "train.yaml", "committee_size": 1}, "committee_size must be >= 2"),
    ("oracle", {"calculator": "a:B", "script": "c.py:d"}, "exactly one of"),
    ("select", {"strategy": "greedy"}, "strategy"),
    ("explore", {"conditions": [{"structure": 0, "steps": 10}]}, "temperature_K is required"),
    ("explore", {"conditions": [{"structure": 0, "steps": 10, "temperature_K": 300, "pressure": 1}]}, "unknown key"),
    ("stop", {"max_labels": 0}, "max_labels"),
    ("train", {"config": "train.yaml", "explored_weight": 0}, "explored_weight must be a number > 0"),
    ("select", {"threshold_eV_per_A": 0.1, "max_sigma_eV_per_A": 0.05}, "must be above"),
])
def test_config_errors_name_the_key(tmp_path, section, value, match):
    path = write_setup(tmp_path, **{section: value})
    with pytest.raises(ConfigError, match=match):
        LearnConfig.from_yaml(path)


def test_loop_sigma_is_the_calculators_and_mds_forces_std():
    """One uncertainty definition: the σ the loop records for a frame is the largest per-atom
    ``forces_std`` of the ASE calculator (and of md's spread), calibration scale included."""
    import torch

    import md
    from mlip.calculator import MLIPCalculator
    from mlip.learn.explore import SpreadSampler
    from mlip.models.config import ModelConfig
    from mlip.potential import build_potential

    pot = build_potential(ModelConfig(elements=("Cu", "Au"), cutoff=4.0, channels=4, n_layers=1),
                          dtype=torch.float64, committee_size=3)
    pot.set_uncertainty_scale(2.5)
    atoms = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.numbers[[1, 6]] = 79
    atoms.rattle(0.08, seed=5)
    state = md.initial_state(atoms, pot, temperature_K=0.0, seed=0)
    sampler = SpreadSampler(1, "probe")
    sampler.start(state, md.reporters.base.RunContext(md.VelocityVerlet(1.0), pot, [sampler], 0, 0))
    (sample,) = sampler.samples
    atoms.calc = MLIPCalculator(pot)
    atoms.get_forces()
    forces_std = atoms.calc.results["forces_std"]
    assert abs(sample.sigma_eV_per_A - forces_std.max()) <= 1e-10 * forces_std.max()
    np.testing.assert_allclose(sample.atoms.arrays["sigma_forces"], forces_std, rtol=1e-10, atol=0)
    pot.set_uncertainty_scale(1.0)
    sampler.report(state, md.reporters.base.RunContext(md.VelocityVerlet(1.0), pot, [sampler], 0, 0))
    assert abs(sampler.samples[-1].sigma_eV_per_A * 2.5 - sample.sigma_eV_per_A) <= 1e-10 * sample.sigma_eV_per_A


def test_descriptor_of_a_molecule_without_a_cell():
    """Non-periodic molecules (zero cell) get the same fingerprint as in a large periodic box."""
    water = ase.build.molecule("CH3CH2OH")
    d = descriptor(water, [1, 6, 8], 5.0)
    boxed = water.copy()
    boxed.center(vacuum=10.0)
    boxed.pbc = True
    np.testing.assert_allclose(descriptor(boxed, [1, 6, 8], 5.0), d, atol=1e-10)
    assert np.linalg.norm(d) > 0


def test_adatoms_sit_on_top_of_the_slab_apart_from_each_other():
    slab = ase.build.fcc100("Cu", size=(3, 3, 4), vacuum=8.0)
    spec = {"structure": 0, "temperature_K": 500, "steps": 5, "adatoms": {"element": "Au", "count": 3}}
    c = build_condition(spec, 0, [slab], np.random.default_rng(2), "langevin")
    added = c.atoms[len(slab):]
    assert len(added) == 3 and set(added.get_chemical_symbols()) == {"Au"}
    np.testing.assert_allclose(added.positions[:, 2], slab.positions[:, 2].max() + 2.0, atol=1e-12)
    d = c.atoms.get_distances(len(slab), [len(slab) + 1, len(slab) + 2], mic=True)
    assert (d >= 2.5 - 1e-9).all()
    assert "3 Au adatoms" in c.name
    bulk = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True)
    with pytest.raises(ConfigError, match="vacuum"):
        build_condition(spec, 0, [bulk], np.random.default_rng(2), "langevin")


def test_collapsed_frames_are_not_labelled(tmp_path):
    """select.min_distance_A: frames with two atoms closer than that are never candidates,
    whatever their σ, and random selection skips them too."""
    from mlip.learn.select import min_distance_A

    atoms = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True)
    assert abs(min_distance_A(atoms) - 3.6 / np.sqrt(2)) < 1e-12
    sigma = np.array([0.5, -np.inf, 0.4])  # the loop marks a collapsed frame with σ = -inf
    features = np.array([[0.0], [1.0], [2.0]])
    assert 1 not in select(sigma, features, np.zeros((0, 1)), 0.1, 3, "uncertainty", np.random.default_rng(0))
    assert select(sigma, features, np.zeros((0, 1)), 0.1, 3, "random", np.random.default_rng(0)) == [0, 2]
    path = write_setup(tmp_path, select={"threshold_eV_per_A": 1e-9, "max_per_round": 2, "min_distance_A": 10.0},
                       stop={"max_labels": 50, "max_rounds": 1, "quiet_time_fs": 1e6})
    lines = []
    learn(LearnConfig.from_yaml(path), say=lines.append)
    from mlip.learn.labelled_set import read_labelled

    labelled = read_labelled(str(tmp_path / "out" / "labelled.extxyz"))
    assert [a.info["source"] for a in labelled] == ["initial", "initial"]  # every sample has atoms < 10 Å apart
    assert any("closer than 10 Å left out" in line for line in lines)


def test_explored_weight_is_the_loss_weight_of_the_loops_own_labels(tmp_path):
    """The combined training file gives the loop's labels (source explore) the configured loss
    weight and the start's frames weight 1, as mlip train reads them; the one-frame files keep none."""
    from mlip.data import DataKeys, read_frames
    from mlip.learn.config import LABEL_KEYS
    from mlip.learn.labelled_set import LabelledStore, with_labels
    from mlip.learn.oracle import Labels

    atoms = ase.build.bulk("Cu", "fcc", a=3.6, cubic=True)
    labels = Labels(-1.0, np.zeros((len(atoms), 3)), np.zeros(6))
    store = LabelledStore(str(tmp_path / "labelled"), str(tmp_path / "labelled.extxyz"), explored_weight=4.0)
    for source in ("initial", "explore", "initial", "explore"):
        store.add(with_labels(atoms, labels, 0, "c", 0.1, source, "test"))
    store.write_combined()
    weights = [f.weight for f in read_frames(str(tmp_path / "labelled.extxyz"), DataKeys(**LABEL_KEYS))]
    np.testing.assert_allclose(weights, [1.0, 4.0, 1.0, 4.0])
    assert all("weight" not in a.info for a in store.frames())
