"""Periodic images are exact wherever atoms sit: moving any atom by any integer combination of
lattice vectors (up to ±10 cells, as unwrapped MD positions drift) changes neither the
neighbour list (its shifts follow the move exactly) nor the energy, forces and stress of a
model — with and without the long-range Coulomb term (Ewald, real and reciprocal space) —
on every neighbour-list backend ("reference", "matscipy", "native" when built), in orthogonal
and triclinic cells, periodic and (without Coulomb, which refuses them) mixed
periodic/open boundaries. Float64; differences <= 1e-10 relative. Random moves come from
seeded generators.

Conventions: ``r_ij = r_j − r_i + S @ cell`` (cell rows are lattice vectors). Moving atom k by
m_k @ cell turns the pair (i, j, S) into (i, j, S + m_i − m_j).
"""
import os
import sys

import ase
import ase.build
import numpy as np
import pytest
import torch

import mlip
from mlip.models.force_model import ForceModel
from mlip.physics.ewald import ewald_parameters, real_space_pairs
from mlip.physics.point_charges import PointCharges
from mlip.types import empty_edges
from nl_cases import as_set, extra_nasty_cases

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "ops"))
from native_support import native_or_skip  # noqa: E402

BACKENDS = ["reference", "matscipy", "native"]
RTOL = 1e-10
MAX_CELLS = 10


@pytest.fixture(autouse=True)
def _single_thread(single_thread):  # the shared fixture of tests/conftest.py, for every test here
    yield


def _backend_or_skip(backend):
    if backend == "native":
        native_or_skip()


def random_moves(atoms, rng, fraction=1.0):
    """Integer lattice moves m (n_atoms, 3) in [−10, 10], zero along open axes, for a random
    subset (``fraction``) of the atoms (at least one moves by ±10 cells along a periodic axis)."""
    n = len(atoms)
    m = rng.integers(-MAX_CELLS, MAX_CELLS + 1, size=(n, 3))
    m[rng.random(n) >= fraction] = 0
    periodic = np.flatnonzero(atoms.pbc)
    k = int(rng.integers(n))
    m[k, periodic[int(rng.integers(len(periodic)))]] = MAX_CELLS * (1 if rng.random() < 0.5 else -1)
    return m * atoms.pbc.astype(int)


def moved(atoms, m):
    out = atoms.copy()
    out.positions = atoms.positions + m @ np.asarray(atoms.cell)
    return out


def rel_err(a, b, floor=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), floor))


def predict(pot, atoms, backend):
    system = mlip.system_from_atoms(atoms, dtype=torch.float64)
    edges = mlip.neighbor_list(system, pot.cutoff, backend=backend)
    stress = bool(np.abs(np.linalg.det(np.asarray(atoms.cell))) > 1e-9)
    pred = pot(system, edges, compute_stress=stress)
    out = {"energy": pred.energy.detach().numpy(), "forces": pred.forces.detach().numpy()}
    if stress:
        out["stress"] = pred.stress.detach().numpy()
    return out


def invariance_errors(pot, atoms, backend, moves):
    """Largest relative change of energy, forces and stress over the moved copies."""
    ref = predict(pot, atoms, backend)
    worst = {k: 0.0 for k in ref}
    for m in moves:
        got = predict(pot, moved(atoms, m), backend)
        for k in ref:
            worst[k] = max(worst[k], rel_err(got[k], ref[k]))
    return worst


# ---------------------------------------------------------------------------------------------
# structures and models


def rock_salt(rattle=0.12, seed=1):
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def triclinic_ionic(seed=2, n=8):
    """Na/Cl alternating in a skewed cell, no two atoms closer than 2.3 Å (minimum image)."""
    rng = np.random.default_rng(seed)
    cell = np.array([[6.2, 0.0, 0.0], [1.9, 5.8, 0.0], [-1.3, 1.1, 6.4]])
    frac = []
    while len(frac) < n:
        f = rng.random(3)
        if all(np.linalg.norm((f - g - np.round(f - g)) @ cell) > 2.3 for g in frac):
            frac.append(f)
    return ase.Atoms(["Na", "Cl"] * (n // 2), scaled_positions=np.array(frac), cell=cell, pbc=True)


def copper_cubic():
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.08, seed=3)
    return atoms


def copper_triclinic():
    atoms = ase.build.bulk("Cu", "fcc", a=3.61).repeat((3, 2, 2))  # primitive cell: 60° angles
    atoms.rattle(0.08, seed=4)
    return atoms


def copper_slab():
    """fcc(111) slab, periodic in-plane (a triclinic 2D cell), open along z."""
    atoms = ase.build.fcc111("Cu", (2, 2, 3), vacuum=5.0)
    atoms.pbc = [True, True, False]
    atoms.rattle(0.05, seed=5)
    return atoms


def copper_wire_skewed():
    """Periodic along a and c, open along b, in a triclinic cell whose open row is skewed."""
    cell = np.array([[5.1, 0.0, 0.0], [1.4, 8.0, 0.5], [0.9, 0.4, 4.8]])
    rng = np.random.default_rng(6)
    frac = []
    while len(frac) < 6:
        f = rng.random(3) * [1.0, 0.5, 1.0]
        d = f - np.array(frac) if frac else None
        if d is not None:
            d[:, [0, 2]] -= np.round(d[:, [0, 2]])
        if d is None or (np.linalg.norm(d @ cell, axis=1) > 2.1).all():
            frac.append(f)
    return ase.Atoms("Cu6", scaled_positions=np.array(frac), cell=cell, pbc=[True, False, True])


def coulomb_potential():
    """Na/Cl with learned charges (~±0.8 e), Ewald real-space cutoff 6 Å, tolerance 1e-8."""
    cfg = mlip.ModelConfig(elements=("Na", "Cl"), cutoff=3.5, l_max=1, channels=6, n_layers=2, radial_hidden=8,
                           readout_hidden=8, avg_num_neighbors=6.0, long_range="coulomb",
                           coulomb_real_space_cutoff=6.0, coulomb_tolerance=1e-8)
    pot = mlip.build_potential(cfg, dtype=torch.float64, seed=0)
    with torch.no_grad():
        pot.model.terms[0].charge_head.shift.copy_(torch.tensor([0.8, -0.8], dtype=torch.float64))
    return pot


def plain_potential():
    cfg = mlip.ModelConfig(elements=("Na", "Cl", "Cu"), cutoff=4.0, l_max=2, channels=6, n_layers=2,
                           radial_hidden=8, readout_hidden=8, avg_num_neighbors=8.0)
    return mlip.build_potential(cfg, dtype=torch.float64, seed=1)


@pytest.fixture(scope="module")
def potentials():
    return {"coulomb": coulomb_potential(), "plain": plain_potential()}


MODEL_CASES = {
    # name: (structure, model)
    "rock_salt_coulomb": (rock_salt, "coulomb"),
    "triclinic_ionic_coulomb": (triclinic_ionic, "coulomb"),
    "rock_salt_plain": (rock_salt, "plain"),
    "copper_cubic_plain": (copper_cubic, "plain"),
    "copper_triclinic_plain": (copper_triclinic, "plain"),
    "copper_slab_plain": (copper_slab, "plain"),
    "copper_wire_skewed_plain": (copper_wire_skewed, "plain"),
}


# ---------------------------------------------------------------------------------------------
# neighbour lists


NL_CASES = [c for c in extra_nasty_cases() if c[1].pbc.any()] + [
    ("rock_salt", rock_salt(), 6.0), ("copper_slab", copper_slab(), 4.0),
    ("copper_wire_skewed", copper_wire_skewed(), 4.5),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,atoms,cutoff", NL_CASES, ids=[c[0] for c in NL_CASES])
def test_neighbor_list_shifts_follow_lattice_moves(name, atoms, cutoff, backend):
    _backend_or_skip(backend)
    rng = np.random.default_rng([c[0] for c in NL_CASES].index(name))
    e = mlip.neighbor_list(mlip.system_from_atoms(atoms), cutoff, backend=backend)
    i, j, s = (x.numpy() for x in (e.index[0], e.index[1], e.shift))
    for _ in range(3):
        m = random_moves(atoms, rng, fraction=0.6)
        got = mlip.neighbor_list(mlip.system_from_atoms(moved(atoms, m)), cutoff, backend=backend)
        expected = as_set(i, j, s + m[i] - m[j])
        assert as_set(got.index[0], got.index[1], got.shift) == expected, f"{name}, {backend}: moves {m.tolist()}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbor_list_batch_of_moved_systems(backend):
    _backend_or_skip(backend)
    rng = np.random.default_rng(11)
    structures = [triclinic_ionic(), copper_slab(), copper_wire_skewed()]
    cutoff = 4.2
    moves = [random_moves(a, rng) for a in structures]
    base = mlip.neighbor_list(mlip.system_from_atoms(structures), cutoff, backend=backend)
    got = mlip.neighbor_list(mlip.system_from_atoms([moved(a, m) for a, m in zip(structures, moves)]), cutoff,
                             backend=backend)
    m = np.concatenate(moves)
    i, j, s = (x.numpy() for x in (base.index[0], base.index[1], base.shift))
    assert as_set(got.index[0], got.index[1], got.shift) == as_set(i, j, s + m[i] - m[j])


# ---------------------------------------------------------------------------------------------
# models: energy, forces, stress


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_invariant_under_random_lattice_moves(case, backend, potentials):
    _backend_or_skip(backend)
    make, model = MODEL_CASES[case]
    atoms = make()
    rng = np.random.default_rng(sorted(MODEL_CASES).index(case) + 100)
    moves = [random_moves(atoms, rng), random_moves(atoms, rng, fraction=0.3)]
    errors = invariance_errors(potentials[model], atoms, backend, moves)
    assert all(v <= RTOL for v in errors.values()), f"{case}, {backend}: relative changes {errors}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_reported_cases(backend, potentials):
    """The user's report: rock-salt NaCl with a Coulomb model, a few atoms moved by 3·a1 + 2·a3
    and −4·a2; fcc Cu with a plain model, same moves."""
    _backend_or_skip(backend)
    for atoms, model in ((rock_salt(), "coulomb"), (copper_cubic(), "plain")):
        m = np.zeros((len(atoms), 3), dtype=int)
        m[0] = [3, 0, 2]
        m[3] = [0, -4, 0]
        m[5] = [3, -4, 2]
        errors = invariance_errors(potentials[model], atoms, backend, [m])
        assert all(v <= RTOL for v in errors.values()), f"{model}, {backend}: relative changes {errors}"


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_backends_agree_on_far_unwrapped_structure(backend, potentials):
    """Every backend gives the reference backend's prediction on a structure whose atoms are up
    to 10 cells away from the cell."""
    _backend_or_skip(backend)
    atoms = triclinic_ionic()
    atoms = moved(atoms, random_moves(atoms, np.random.default_rng(5)))
    pot = potentials["coulomb"]
    ref = predict(pot, atoms, "reference")
    got = predict(pot, atoms, backend)
    errors = {k: rel_err(got[k], ref[k]) for k in ref}
    assert all(v <= RTOL for v in errors.values()), f"{backend} vs reference: {errors}"


# ---------------------------------------------------------------------------------------------
# Ewald alone


def ewald_model(charges, real_space_cutoff, r_off):
    """Fixed point charges {Z: q} (e) alone, Ewald tolerance 1e-10."""
    charges = PointCharges(list(charges), list(charges.values()), r_on=0.0, r_off=r_off, tolerance=1e-10,
                           real_space_cutoff=real_space_cutoff)
    return ForceModel([charges]).to(torch.float64)


def ionic_mixture():
    """Na3 Cl3 Cu3 (charges 0.9, −1.3, 0.4: neutral) in a strongly skewed cell."""
    rng = np.random.default_rng(9)
    cell = np.array([[5.3, 0.0, 0.0], [2.9, 4.7, 0.0], [1.7, -1.5, 5.9]])
    frac = []
    while len(frac) < 9:
        f = rng.random(3)
        if all(np.linalg.norm((f - g - np.round(f - g)) @ cell) > 1.9 for g in frac):
            frac.append(f)
    return ase.Atoms(["Na", "Cl", "Cu"] * 3, scaled_positions=np.array(frac), cell=cell, pbc=True)


SALT = {11: 1.0, 17: -1.0}
MIXTURE = {11: 0.9, 17: -1.3, 29: 0.4}
EWALD_CASES = {
    # name: (structure, charges, real_space_cutoff Å, damping r_off Å); a short real-space
    # cutoff puts most of the energy in reciprocal space, a long one in real space
    "rock_salt_bare_reciprocal_heavy": (rock_salt, SALT, 2.5, 0.0),
    "rock_salt_bare_real_heavy": (rock_salt, SALT, 14.0, 0.0),
    "skewed_damped_reciprocal_heavy": (ionic_mixture, MIXTURE, 3.0, 3.0),
    "skewed_bare_real_heavy": (ionic_mixture, MIXTURE, 12.0, 0.0),
}


def ewald_predict(model, atoms):
    system = mlip.system_from_atoms(atoms, dtype=torch.float64)
    pred = model(system, empty_edges(), compute_stress=True)
    return {"energy": pred.energy.numpy(), "forces": pred.forces.numpy(), "stress": pred.stress.numpy()}


@pytest.mark.parametrize("case", sorted(EWALD_CASES))
def test_ewald_invariant_under_random_lattice_moves(case):
    make, charges, r_cut, r_off = EWALD_CASES[case]
    atoms = make()
    model = ewald_model(charges, r_cut, r_off)
    ref = ewald_predict(model, atoms)
    rng = np.random.default_rng(sorted(EWALD_CASES).index(case) + 200)
    for fraction in (1.0, 0.4):
        m = random_moves(atoms, rng, fraction)
        got = ewald_predict(model, moved(atoms, m))
        errors = {k: rel_err(got[k], ref[k]) for k in ref}
        assert all(v <= RTOL for v in errors.values()), f"{case}: relative changes {errors}"


def test_ewald_real_space_pairs_follow_lattice_moves():
    """real_space_pairs itself searches enough images for atoms anywhere (no prior wrap)."""
    atoms = ionic_mixture()
    _, r_real, _ = ewald_parameters(1e-8, 7.0, 0.0)
    cell = torch.tensor(np.asarray(atoms.cell), dtype=torch.float64)
    i, j, s = (x.numpy() for x in real_space_pairs(torch.tensor(atoms.positions), cell, r_real))
    m = random_moves(atoms, np.random.default_rng(300))
    far = torch.tensor(moved(atoms, m).positions)
    gi, gj, gs = real_space_pairs(far, cell, r_real)
    assert as_set(gi, gj, gs) == as_set(i, j, s + m[i] - m[j])
