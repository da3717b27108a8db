"""The device neighbour list (cell list in fractional coordinates, sorted by receiver, one
device->host read per call) equals the CPU op edge for edge, in the same order, on the awkward
cells of tests/nl_cases.py, bulk crystals, batches and float32 positions, and refuses bad input
with the CPU op's messages.

On "cpu" the CUDA pipeline runs as host loops over the same step bodies
(``mlip::_neighbor_list_pipeline``); on "cuda" it is ``mlip.neighbor_list(..., backend="native")``
on CUDA tensors."""
import warnings

import ase
import ase.build
import numpy as np
import pytest
import torch

import mlip
from gpu_support import CUDA_MISSING, require_device
from mlip.errors import InvalidSystemError
from nl_cases import extra_nasty_cases


def _cpu_list(system, cutoff):
    return torch.ops.mlip.neighbor_list(system.positions, system.cell, system.pbc, system.system_index, cutoff)


def _device_list(system, cutoff, device):
    """(index, shift) by the device pipeline, on the device's tensors."""
    if device == "cpu":
        return torch.ops.mlip._neighbor_list_pipeline(system.positions, system.cell, system.pbc, system.system_index,
                                                      cutoff)
    moved = mlip.System(*(t.to(device) if t is not None else None for t in system))
    edges = mlip.neighbor_list(moved, cutoff, backend="native")
    assert edges.index.device.type == device and edges.shift.device.type == device
    return edges.index, edges.shift


def _assert_same_list(system, cutoff, device, what):
    expected = _cpu_list(system, cutoff)
    index, shift = _device_list(system, cutoff, device)
    assert index.shape == expected[0].shape, f"{what}: {index.shape[1]} edges, CPU {expected[0].shape[1]}"
    assert torch.equal(index.cpu(), expected[0]) and torch.equal(shift.cpu(), expected[1]), what


def _bulk_cases():
    cu = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    cu.rattle(0.1, seed=1)
    tri = ase.build.bulk("Cu", "fcc", a=3.61).repeat((8, 8, 8))
    tri.rattle(0.1, seed=6)
    slab = ase.build.fcc111("Cu", (6, 6, 4), vacuum=6.0)
    slab.rattle(0.05, seed=7)
    cluster = cu.copy()
    cluster.pbc = False
    water = ase.Atoms("OH2" * 20, positions=np.random.default_rng(3).random((60, 3)) * 9.0, cell=[9.0] * 3, pbc=True)
    return [("cu256", cu, 5.0), ("cu_primitive512", tri, 5.0), ("slab144", slab, 5.0), ("cluster256", cluster, 5.0),
            ("random60", water, 3.0)]


CASES = extra_nasty_cases() + _bulk_cases()


@pytest.mark.parametrize("name,atoms,cutoff", CASES, ids=[c[0] for c in CASES])
def test_device_neighbor_list_equals_cpu_edge_for_edge(device, name, atoms, cutoff):
    _assert_same_list(mlip.system_from_atoms(atoms), cutoff, device, name)


def test_device_neighbor_list_of_a_batch_and_of_float32_positions(device):
    atoms = [c[1] for c in CASES]
    _assert_same_list(mlip.system_from_atoms(atoms), 3.5, device, "batch of every case")
    _assert_same_list(mlip.system_from_atoms(atoms, dtype=torch.float32), 3.5, device, "float32 batch")


def test_device_neighbor_list_of_a_large_shuffled_crystal(device):
    """16,384 atoms in random order: atom numbering does not follow space."""
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((16, 16, 16))
    atoms.rattle(0.1, seed=4)
    atoms = atoms[np.random.default_rng(5).permutation(len(atoms))]
    system = mlip.system_from_atoms(atoms)
    _assert_same_list(system, 4.0, device, "cu16384 shuffled")
    first = _device_list(system, 4.0, device)
    again = _device_list(system, 4.0, device)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1]), "differs run to run"


def test_device_neighbor_list_of_nothing(device):
    empty = mlip.system_from_atoms([ase.Atoms()])
    index, shift = _device_list(empty, 3.0, device)
    assert index.shape == (2, 0) and shift.shape == (0, 3)


def _two_structures():
    return mlip.system_from_atoms([ase.build.molecule("H2O"), ase.build.bulk("Cu", cubic=True)])


def _raw(system, device, positions=None, cell=None, system_index=None):
    args = [system.positions if positions is None else positions, system.cell if cell is None else cell, system.pbc,
            system.system_index if system_index is None else system_index]
    args = [a.to(device) for a in args]
    op = torch.ops.mlip._neighbor_list_pipeline if device == "cpu" else torch.ops.mlip.neighbor_list
    return op(*args, 3.0)


def test_device_neighbor_list_refuses_bad_input_with_the_cpu_messages(device):
    s = _two_structures()
    pos = s.positions.clone()
    pos[2, 1] = float("nan")
    with pytest.raises(RuntimeError, match=r": non-finite position of atom 2$"):
        _raw(s, device, positions=pos)
    with pytest.raises(RuntimeError, match=r": system_index out of range at atom 3$"):
        _raw(s, device, system_index=torch.tensor([0, 0, 0, 2, 1, 1, 1]))
    with pytest.raises(RuntimeError, match=r": system_index must be sorted$"):
        _raw(s, device, system_index=torch.tensor([0, 1, 0, 5, 1, 1, 1]))  # decreasing (atom 2) before out of range
    cell = s.cell.clone()
    cell[1, 1] = 2 * cell[1, 0]  # second lattice vector parallel to the first
    with pytest.raises(ValueError, match=r": system 1: degenerate cell along a periodic direction"):
        _raw(s, device, cell=cell)
    # a structure without atoms may have any cell
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [0.0, 0.9, 0.0]], dtype=torch.float64)
    cells = torch.stack([torch.zeros(3, 3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)])
    pbc = torch.tensor([[False] * 3, [True] * 3])
    args = [pos, cells, pbc, torch.zeros(3, dtype=torch.int64)]
    expected = torch.ops.mlip.neighbor_list(*args, 3.0)
    op = torch.ops.mlip._neighbor_list_pipeline if device == "cpu" else torch.ops.mlip.neighbor_list
    index, shift = op(*[a.to(device) for a in args], 3.0)
    assert index.shape[1] == 6 and torch.equal(index.cpu(), expected[0]) and torch.equal(shift.cpu(), expected[1])
    if device != "cpu":  # the public API maps the op's ValueError to InvalidSystemError
        moved = mlip.System(*(t.to(device) if t is not None else None for t in s))
        with pytest.raises(InvalidSystemError, match="degenerate"):
            mlip.neighbor_list(moved._replace(cell=cell.to(device)), 3.0, backend="native")


@pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_MISSING)
def test_cuda_neighbor_list_reads_back_from_the_device_once():
    """One device->host copy per call (the edge count with the error summary), counted by torch's
    sync debug mode, which warns at every synchronising operation."""
    require_device("cuda")
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((6, 6, 6))
    system = mlip.System(*(t.to("cuda") if t is not None else None for t in mlip.system_from_atoms(atoms)))
    args = (system.positions, system.cell, system.pbc, system.system_index, 5.0)
    torch.ops.mlip.neighbor_list(*args)
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            torch.ops.mlip.neighbor_list(*args)
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) == 1, syncs
