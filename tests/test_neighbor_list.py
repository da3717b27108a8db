"""The neighbour list equals ASE's (as sorted (i, j, shift) sets) on nasty cells."""
import ase
import ase.build
import numpy as np
import pytest
import torch
from ase.neighborlist import neighbor_list as ase_neighbor_list

import mlip
from mlip.errors import BackendUnavailableError, InvalidSystemError


def _as_set(i, j, s):
    return sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, np.asarray(s).tolist())))


def _cases():
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
    return out


@pytest.mark.parametrize("backend", ["matscipy", "reference"])
@pytest.mark.parametrize("name,atoms,cutoff", _cases(), ids=[c[0] for c in _cases()])
def test_neighbor_list_equals_ase(name, atoms, cutoff, backend):
    i, j, s = ase_neighbor_list("ijS", atoms, cutoff)
    edges = mlip.neighbor_list(mlip.system_from_atoms(atoms), cutoff, backend=backend)
    assert _as_set(edges.index[0], edges.index[1], edges.shift) == _as_set(i, j, s)


def test_neighbor_list_batch_equals_each_system_alone_with_offsets():
    cases = [c[1] for c in _cases()[:3]]
    cutoff = 3.5
    batch = mlip.neighbor_list(mlip.system_from_atoms(cases), cutoff)
    expected, offset = [], 0
    for a in cases:
        i, j, s = ase_neighbor_list("ijS", a, cutoff)
        expected += _as_set(i + offset, j + offset, s)
        offset += len(a)
    assert _as_set(batch.index[0], batch.index[1], batch.shift) == sorted(expected)


def test_neighbor_list_is_sorted_by_receiver_and_int64():
    a = _cases()[0][1]
    e = mlip.neighbor_list(mlip.system_from_atoms(a), 4.0)
    assert e.index.dtype == torch.int64 and e.shift.dtype == torch.int64
    assert bool((e.index[0, 1:] >= e.index[0, :-1]).all())


def test_neighbor_list_rejects_bad_cutoff_and_backend():
    s = mlip.system_from_atoms(ase.build.molecule("H2O"))
    with pytest.raises(InvalidSystemError, match="cutoff"):
        mlip.neighbor_list(s, -1.0)
    with pytest.raises(BackendUnavailableError, match="backend"):
        mlip.neighbor_list(s, 2.0, backend="nonsense")
