"""mlip::neighbor_list (native cell list) equals ASE on the nasty cells of the foundation tests,
and equals the matscipy backend edge for edge (same sort order) on larger and batched systems."""
import ase
import ase.build
import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list as ase_neighbor_list

import mlip
from mlip.errors import InvalidSystemError
from native_support import native_or_skip


@pytest.fixture(autouse=True)
def _needs_native():
    native_or_skip()


def _as_set(i, j, s):
    return sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, np.asarray(s).tolist())))


def _nasty_cases():
    """The cases of tests/test_neighbor_list.py (same seeds), plus a few more."""
    rng = np.random.default_rng(42)
    out = []
    for k in range(4):  # random triclinic, cutoff larger than the cell
        cell = np.eye(3) * rng.uniform(2.0, 4.0, 3) + rng.uniform(-0.8, 0.8, (3, 3))
        a = ase.Atoms("Cu" * int(rng.integers(1, 7)), cell=cell, pbc=True)
        a.set_scaled_positions(rng.random((len(a), 3)))
        out.append((f"triclinic{k}", a, float(rng.uniform(3.0, 6.0))))
    single = ase.Atoms("Ar", cell=[[1.7, 0, 0], [0.4, 1.9, 0], [0.2, 0.3, 2.1]], pbc=True)
    out.append(("one_atom_tiny_cell", single, 4.5))
    mixed = out[0][1].copy()
    mixed.pbc = [True, False, True]
    out.append(("mixed_pbc", mixed, 3.7))
    slab = ase.build.fcc111("Cu", (2, 2, 3))
    slab.pbc = [True, True, False]
    slab.cell[2] = 0.0
    out.append(("slab_zero_c_vector", slab, 5.0))
    mol = ase.build.molecule("CH3CH2OH")
    out.append(("molecule", mol, 2.5))
    far = ase.Atoms("H2", positions=[[0, 0, 0], [10, 0, 0]])
    out.append(("isolated_atoms", far, 3.0))
    # extra: a wire (one periodic axis), atoms far outside the cell, a very skewed cell
    wire = ase.Atoms("Cu4", positions=rng.random((4, 3)) * 3.0, cell=[[2.2, 0.3, 0.1], [0, 0, 0], [0, 0, 0]],
                     pbc=[True, False, False])
    out.append(("wire_one_periodic_axis", wire, 4.0))
    outside = out[1][1].copy()
    outside.positions += np.array([31.7, -57.2, 12.9])
    out.append(("atoms_outside_the_cell", outside, 4.2))
    far_out = out[1][1].copy()  # image shifts beyond +-127: the unpacked (wide) path of the CPU kernel
    far_out.positions[::2] += np.array([611.3, -587.9, 402.2])
    out.append(("shifts_beyond_127_cells", far_out, 4.2))
    skew = ase.Atoms("Cu3", cell=[[4.0, 0, 0], [3.9, 0.6, 0], [0.2, 0.1, 3.0]], pbc=True)
    skew.set_scaled_positions(rng.random((3, 3)))
    out.append(("skewed_cell", skew, 3.3))
    return out


CASES = _nasty_cases()


@pytest.mark.parametrize("name,atoms,cutoff", CASES, ids=[c[0] for c in CASES])
def test_native_neighbor_list_equals_ase(name, atoms, cutoff):
    i, j, s = ase_neighbor_list("ijS", atoms, cutoff)
    edges = mlip.neighbor_list(mlip.system_from_atoms(atoms), cutoff, backend="native")
    assert edges.index.dtype == torch.int64 and edges.shift.dtype == torch.int64
    assert _as_set(edges.index[0], edges.index[1], edges.shift) == _as_set(i, j, s)


def _bulk_cases():
    cu = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    cu.rattle(0.1, seed=1)
    tri = ase.build.bulk("Cu", "fcc", a=3.61).repeat((5, 4, 3))  # primitive triclinic cell
    tri.rattle(0.1, seed=2)
    water = ase.Atoms("OH2" * 20, positions=np.random.default_rng(3).random((60, 3)) * 9.0, cell=[9.0] * 3, pbc=True)
    return [("cu256", cu, 5.0), ("cu_primitive60", tri, 4.5), ("random60", water, 3.0)]


@pytest.mark.parametrize("name,atoms,cutoff", _bulk_cases(), ids=[c[0] for c in _bulk_cases()])
def test_native_neighbor_list_is_identical_to_matscipy_including_order(name, atoms, cutoff):
    system = mlip.system_from_atoms(atoms)
    a = mlip.neighbor_list(system, cutoff, backend="matscipy")
    b = mlip.neighbor_list(system, cutoff, backend="native")
    assert torch.equal(a.index, b.index) and torch.equal(a.shift, b.shift)


def test_native_neighbor_list_batch_equals_each_system_with_offsets():
    atoms = [c[1] for c in CASES]
    cutoff = 3.5
    batch = mlip.neighbor_list(mlip.system_from_atoms(atoms), cutoff, backend="native")
    expected, offset = [], 0
    for a in atoms:
        i, j, s = ase_neighbor_list("ijS", a, cutoff)
        expected += _as_set(i + offset, j + offset, s)
        offset += len(a)
    assert _as_set(batch.index[0], batch.index[1], batch.shift) == sorted(expected)
    assert bool((batch.index[0, 1:] >= batch.index[0, :-1]).all())


def test_native_neighbor_list_same_with_one_and_two_threads_and_float32():
    atoms = _bulk_cases()[0][1]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mlip.neighbor_list(mlip.system_from_atoms(atoms), 5.0, backend="native")
        torch.set_num_threads(2)
        two = mlip.neighbor_list(mlip.system_from_atoms(atoms), 5.0, backend="native")
    finally:
        torch.set_num_threads(before)
    f32 = mlip.neighbor_list(mlip.system_from_atoms(atoms, dtype=torch.float32), 5.0, backend="native")
    assert torch.equal(one.index, two.index) and torch.equal(one.shift, two.shift)
    assert f32.index.shape[1] > 0


def test_native_neighbor_list_large_shuffled_crystal_equals_matscipy_with_one_and_two_threads():
    """16,384 atoms in random order: the output scatter runs in two ranges with two threads, and
    the atom numbering does not follow space."""
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((16, 16, 16))
    atoms.rattle(0.1, seed=4)
    atoms = atoms[np.random.default_rng(5).permutation(len(atoms))]
    system = mlip.system_from_atoms(atoms)
    expected = mlip.neighbor_list(system, 4.0, backend="matscipy")
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got = mlip.neighbor_list(system, 4.0, backend="native")
            assert torch.equal(got.index, expected.index) and torch.equal(got.shift, expected.shift), threads
    finally:
        torch.set_num_threads(before)


def test_native_neighbor_list_rejects_degenerate_periodic_cell():
    atoms = ase.Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 1]], cell=[[3, 0, 0], [6, 0, 0], [0, 0, 3]], pbc=True)
    with pytest.raises(InvalidSystemError, match="degenerate"):
        mlip.neighbor_list(mlip.system_from_atoms(atoms), 2.0, backend="native")


def test_native_neighbor_list_of_edges_give_the_same_edge_vectors_as_ase():
    atoms = CASES[3][1]
    cutoff = CASES[3][2]
    system = mlip.system_from_atoms(atoms)
    edges = mlip.neighbor_list(system, cutoff, backend="native")
    d = mlip.edge_vectors(system, edges).norm(dim=1)
    assert bool((d < cutoff).all()) and bool((d > 0).all())
