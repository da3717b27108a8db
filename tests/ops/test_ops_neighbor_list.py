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
from nl_cases import as_set, extra_nasty_cases


@pytest.fixture(autouse=True)
def _needs_native():
    native_or_skip()


CASES = extra_nasty_cases()


@pytest.mark.parametrize("name,atoms,cutoff", CASES, ids=[c[0] for c in CASES])
def test_native_neighbor_list_equals_ase(name, atoms, cutoff):
    i, j, s = ase_neighbor_list("ijS", atoms, cutoff)
    edges = mlip.neighbor_list(mlip.system_from_atoms(atoms), cutoff, backend="native")
    assert edges.index.dtype == torch.int64 and edges.shift.dtype == torch.int64
    assert as_set(edges.index[0], edges.index[1], edges.shift) == as_set(i, j, s)


def _bulk_cases():
    cu = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    cu.rattle(0.1, seed=1)
    tri = ase.build.bulk("Cu", "fcc", a=3.61).repeat((5, 4, 3))  # primitive triclinic cell
    tri.rattle(0.1, seed=2)
    water = ase.Atoms("OH2" * 20, positions=np.random.default_rng(3).random((60, 3)) * 9.0, cell=[9.0] * 3, pbc=True)
    big_tri = ase.build.bulk("Cu", "fcc", a=3.61).repeat((8, 8, 8))  # triclinic, planes > 2 cutoffs apart
    big_tri.rattle(0.1, seed=6)
    slab = ase.build.fcc111("Cu", (6, 6, 4), vacuum=6.0)  # open along z
    slab.rattle(0.05, seed=7)
    cluster = cu.copy()  # no periodic axis
    cluster.pbc = False
    return [("cu256", cu, 5.0), ("cu_primitive60", tri, 4.5), ("random60", water, 3.0),
            ("cu_primitive512", big_tri, 5.0), ("slab144", slab, 5.0), ("cluster256", cluster, 5.0)]


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
        expected += as_set(i + offset, j + offset, s)
        offset += len(a)
    assert as_set(batch.index[0], batch.index[1], batch.shift) == sorted(expected)
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
