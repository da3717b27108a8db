"""The neighbour list equals ASE's (as sorted (i, j, shift) sets) on nasty cells (tests/nl_cases.py)."""
import ase.build
import pytest
import torch
from ase.neighborlist import neighbor_list as ase_neighbor_list
from nl_cases import as_set, nasty_cases

import mlip
from mlip.errors import BackendUnavailableError, InvalidSystemError


_CASES = nasty_cases()


@pytest.mark.parametrize("backend", ["matscipy", "reference"])
@pytest.mark.parametrize("name,atoms,cutoff", _CASES, ids=[c[0] for c in _CASES])
def test_neighbor_list_equals_ase(name, atoms, cutoff, backend):
    i, j, s = ase_neighbor_list("ijS", atoms, cutoff)
    edges = mlip.neighbor_list(mlip.system_from_atoms(atoms), cutoff, backend=backend)
    assert as_set(edges.index[0], edges.index[1], edges.shift) == as_set(i, j, s)


def test_neighbor_list_batch_equals_each_system_alone_with_offsets():
    cases = [c[1] for c in nasty_cases()[:3]]
    cutoff = 3.5
    batch = mlip.neighbor_list(mlip.system_from_atoms(cases), cutoff)
    expected, offset = [], 0
    for a in cases:
        i, j, s = ase_neighbor_list("ijS", a, cutoff)
        expected += as_set(i + offset, j + offset, s)
        offset += len(a)
    assert as_set(batch.index[0], batch.index[1], batch.shift) == sorted(expected)


def test_neighbor_list_is_sorted_by_receiver_and_int64():
    a = nasty_cases()[0][1]
    e = mlip.neighbor_list(mlip.system_from_atoms(a), 4.0)
    assert e.index.dtype == torch.int64 and e.shift.dtype == torch.int64
    assert bool((e.index[0, 1:] >= e.index[0, :-1]).all())


def test_neighbor_list_rejects_bad_cutoff_and_backend():
    s = mlip.system_from_atoms(ase.build.molecule("H2O"))
    with pytest.raises(InvalidSystemError, match="cutoff"):
        mlip.neighbor_list(s, -1.0)
    with pytest.raises(BackendUnavailableError, match="backend"):
        mlip.neighbor_list(s, 2.0, backend="nonsense")
