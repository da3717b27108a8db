"""The OOD test set and the start structures of benchmarks/active_learning/ood_set.py: each kind's
structures satisfy its stated condition, the start structures lie outside every OOD condition,
and written labels are EMT's on the written positions."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase.calculators.emt import EMT  # noqa: E402
from ase.neighborlist import neighbor_list  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "active_learning" / "ood_set.py"


@pytest.fixture(scope="module")
def ood():
    spec = importlib.util.spec_from_file_location("ood_set", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(ood, kind, run, seed=3):
    return ood.KINDS[kind](run, np.random.default_rng([seed, run]))


def test_hot_alloys_are_35_to_60_percent_au_at_900_to_1500_K(ood):
    for run in range(8):
        atoms, temperature_K, _, _ = build(ood, "hot_alloy", run)
        assert 0.35 <= np.mean(atoms.numbers == 79) <= 0.60
        assert 900.0 <= temperature_K <= 1500.0 and 32 <= len(atoms) <= 108


def test_sheared_cells_are_triclinic_with_4_to_8_percent_shear(ood):
    for run in range(4):
        atoms, temperature_K, _, strain = build(ood, "sheared_triclinic", run)
        assert np.all(np.abs(strain[:3]) <= 0.03) and np.all((np.abs(strain[3:]) >= 0.04) & (np.abs(strain[3:]) <= 0.08))
        angles = atoms.cell.cellpar()[3:]
        assert np.all(np.abs(angles - 90.0) > 4.0)  # ~2 * 4 % rad = 4.6 degrees at least
        assert np.mean(atoms.numbers == 79) <= 0.25


def test_vacancy_clusters_are_mutual_nearest_neighbours(ood):
    for run in range(4):
        atoms, _, text, _ = build(ood, "au_vacancy_cluster", run)
        n_missing = 2 + (run // 2) % 2
        full = ood.fcc(1, a=atoms.cell[0, 0] / round(atoms.cell[0, 0] / 3.7)).repeat(
            tuple(round(atoms.cell[i, i] / 3.7) for i in range(3)))
        assert len(full) - len(atoms) == n_missing
        _, d = ase.geometry.get_distances(full.positions, atoms.positions, cell=atoms.cell, pbc=True)
        vacant = np.flatnonzero(d.min(axis=1) > 0.1)  # the sites nobody occupies
        assert len(vacant) == n_missing
        i, j = neighbor_list("ij", full, 0.85 * full.cell[0, 0] / round(full.cell[0, 0] / 3.7))
        for a in vacant:
            assert set(vacant) - {a} <= set(j[i == a].tolist())
        assert np.mean(atoms.numbers == 79) < 0.35 and ("di-" in text) == (n_missing == 2)


def test_adatoms_sit_in_hollows_above_a_111_slab(ood):
    for run in range(3):
        atoms, temperature_K, _, _ = build(ood, "cu111_au_adatom", run)
        au = atoms.numbers == 79
        assert au.sum() == 1 + run and 500.0 <= temperature_K <= 700.0
        assert np.all(atoms.positions[au, 2] > atoms.positions[~au, 2].max() + 1.5)
        d = atoms.get_all_distances(mic=True)[au][:, ~au]
        assert d.min() > 2.0  # no overlap with the surface


def test_start_structures_are_outside_every_ood_condition(ood):
    start = ood.start_structures(seed=5)
    assert 6 <= len(start) <= 10
    ood.check_disjoint(start)
    for a in start:
        assert 32 <= len(a) <= 64 and np.mean(a.numbers == 79) <= 0.25
        assert "REF_energy" not in a.info  # unlabelled
    bad = start[1].copy()
    bad.info["au_fraction"] = 0.5
    with pytest.raises(ood.ConfigError, match="overlaps"):
        ood.check_disjoint([bad])
    again = ood.start_structures(seed=5)
    assert all(np.array_equal(a.numbers, b.numbers) for a, b in zip(start, again))


def test_written_labels_are_emt_on_the_written_positions(ood, tmp_path, monkeypatch):
    monkeypatch.setattr(ood, "EQUILIBRATE_FS", 20.0)
    monkeypatch.setattr(ood, "SAMPLE_EVERY_FS", 20.0)
    frames = ood.run_frames("cu111_au_adatom", 1, 2, seed=7)
    path = tmp_path / "ood.extxyz"
    ood.write(frames, str(path))
    for a in ase.io.read(path, ":"):
        ref = a.copy()
        ref.calc = EMT()
        assert a.info["kind"] == "cu111_au_adatom" and a.info["condition"]
        assert abs(ref.get_potential_energy() - a.info["REF_energy"]) < 1e-8
        assert np.abs(ref.get_forces() - a.arrays["REF_forces"]).max() < 1e-6
        assert np.abs(ref.get_stress(voigt=True) - a.info["REF_stress"]).max() < 1e-8


@pytest.mark.parametrize("name", ["ood_test.extxyz", "ood_independent.extxyz"])
def test_shipped_ood_sets_carry_emt_labels_of_their_positions(name):
    """The committed sets: 48 frames, 12 of each kind, labels EMT's on the stored positions
    (one frame per run checked, to stay fast)."""
    frames = ase.io.read(SCRIPT.parent / "data" / name, ":")
    kinds = [a.info["kind"] for a in frames]
    assert len(frames) == 48 and all(kinds.count(k) == 12 for k in set(kinds)) and len(set(kinds)) == 4
    for a in frames[::3]:
        ref = a.copy()
        ref.calc = EMT()
        assert abs(ref.get_potential_energy() - a.info["REF_energy"]) < 1e-6
        assert np.abs(ref.get_forces() - a.arrays["REF_forces"]).max() < 1e-5
