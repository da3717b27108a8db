"""The model forward never waits for the device: no host sync in energies, nor in energies and
forces (on CUDA torch's sync debug mode raises at any sync; on every device the ops that need one,
``nonzero``, ``.item()``, ..., must not run). Parts that made it possible: SpeciesLinear without
a per-species ``nonzero`` (same numbers as the old per-species form), and tp_conv's value check
run once per input and remembered (``mlip::_check_tp_conv_values_once``)."""
import math

import ase.build
import pytest
import torch

import mlip
from gpu_support import assert_close_scaled, no_host_sync, require_device
from mlip.nn.linear import SpeciesLinear


def _per_species(module, x, species):
    """SpeciesLinear as it was: one matmul per species on the atoms found by ``nonzero``."""
    out = torch.zeros((x.shape[0], module.c_out, module.d_out), dtype=x.dtype, device=x.device)
    xc = x[:, :, : module.d_common]
    for s in range(module.n_species):
        idx = torch.nonzero(species == s).squeeze(1)
        w = module.weight[s][module.component_degree] / math.sqrt(module.c_in)
        ys = torch.bmm(xc.index_select(0, idx).permute(2, 0, 1), w).permute(1, 2, 0)
        out[:, :, : module.d_common] = out[:, :, : module.d_common].index_copy(0, idx, ys)
    return out


@pytest.mark.parametrize("n_species,l_in,l_out", [(1, 2, 2), (3, 2, 2), (3, 0, 2), (2, 2, 0), (4, 1, 3)])
def test_species_linear_equals_the_per_species_form(device, n_species, l_in, l_out):
    g = torch.Generator().manual_seed(n_species * 10 + l_in)
    module = SpeciesLinear(n_species, 16, 12, l_in, l_out).double()
    with torch.no_grad():
        module.weight.copy_(torch.randn(module.weight.shape, generator=g, dtype=torch.float64))
    x = torch.randn(300, 16, (l_in + 1) ** 2, generator=g, dtype=torch.float64, requires_grad=True)
    species = torch.randint(0, n_species, (300,), generator=g)
    species[7] = -1  # an unknown element: zeros in both forms
    probe = torch.randn(300, 12, (l_out + 1) ** 2, generator=g, dtype=torch.float64)
    expected = _per_species(module, x, species)
    (expected_dx,) = torch.autograd.grad(expected, x, probe)
    on_device = module.to(device)
    x_dev = x.detach().to(device).requires_grad_(True)
    got = on_device(x_dev, species.to(device))
    (dx,) = torch.autograd.grad(got, x_dev, probe.to(device))
    assert_close_scaled(got.cpu(), expected, 1e-12, "output")
    assert_close_scaled(dx.cpu(), expected_dx, 1e-12, "d/dx")
    assert not got[7].any()


def _native_model_on(device, dtype=torch.float32):
    cfg = mlip.ModelConfig(elements=("H", "O", "Cu"), cutoff=4.0, l_max=2, channels=16, n_layers=3)
    pot = mlip.build_potential(cfg, dtype=dtype, seed=0, backend="native", device=device)
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.1, seed=1)
    atoms.numbers[:10] = [1, 8] * 5
    system = mlip.system_from_atoms(atoms, dtype=dtype)
    system = mlip.System(*(t.to(device) if t is not None else None for t in system))
    return pot, system, mlip.neighbor_list(system, pot.cutoff, backend="native")


def test_model_forward_makes_no_host_sync(device):
    pot, system, edges = _native_model_on(device)
    expected = pot.model(system, edges, False, False, False).energy  # first call: the CG tables are checked
    with no_host_sync(device):
        energy = pot.model(system, edges, False, False, False).energy
    assert_close_scaled(energy.cpu(), expected.cpu(), 1e-6, "energy")


def test_model_energy_and_forces_make_no_host_sync(device):
    pot, system, edges = _native_model_on(device)
    expected = pot.model(system, edges, True, False, False)
    with no_host_sync(device):
        pred = pot.model(system, edges, True, False, False)
    assert torch.equal(pred.forces, expected.forces)


@pytest.fixture
def fresh_memory():
    require_device("cpu")  # the op library
    torch.ops.mlip._forget_validated_inputs()
    yield
    torch.ops.mlip._forget_validated_inputs()


def _check_once(sender, receiver, table, n_nodes=6):
    return torch.ops.mlip._check_tp_conv_values_once(sender, receiver, table, n_nodes, 4, 4, 4, 2)


def test_tp_conv_value_check_runs_once_per_unchanged_input(fresh_memory):
    edges = torch.tensor([[0, 1, 2, 5, 5], [1, 0, 4, 3, 2]])
    table = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 1]], dtype=torch.int32)
    receiver, sender = edges[0], edges[1]
    assert not _check_once(sender, receiver, table)  # checked
    assert _check_once(sender, receiver, table)  # remembered
    assert _check_once(edges[1], edges[0], table)  # new views of the same memory
    assert _check_once(sender, receiver, table, n_nodes=9)  # looser limit
    with pytest.raises(RuntimeError, match=r"receiver\[3\] = 5 is out of range \[0, 5\)"):
        _check_once(sender, receiver, table, n_nodes=5)  # stricter limit: checked again
    with torch.no_grad():
        receiver[1] = 2  # still valid, but changed: checked again
    assert not _check_once(sender, receiver, table)
    with torch.no_grad():
        sender[0] = 7
    with pytest.raises(RuntimeError, match=r"sender\[0\] = 7 is out of range \[0, 6\)"):
        _check_once(sender, receiver, table)
    with torch.no_grad():
        table[1, 2] = 4
    with pytest.raises(RuntimeError, match=r"cg_index row 1 = \(1, 2, 4, 1\) is out of range"):
        _check_once(sender.clamp(max=5), receiver, table)


def test_inference_tensors_are_checked_every_time(fresh_memory):
    with torch.inference_mode():
        edges = torch.tensor([[0, 1], [1, 0]])
        table = torch.tensor([[0, 0, 0, 0]], dtype=torch.int32)
    assert not _check_once(edges[1], edges[0], table)
    assert not _check_once(edges[1], edges[0], table)


def test_the_device_neighbor_list_output_needs_no_check(fresh_memory):
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    s = mlip.system_from_atoms(atoms)
    index, _ = torch.ops.mlip._neighbor_list_pipeline(s.positions, s.cell, s.pbc, s.system_index, 3.0)
    table = torch.tensor([[0, 0, 0, 0]], dtype=torch.int32)
    assert not _check_once(index[1], index[0], table, n_nodes=32)  # the table is new: checked
    other = torch.ops.mlip._neighbor_list_pipeline(s.positions, s.cell, s.pbc, s.system_index, 3.0)[0]
    assert _check_once(other[1], other[0], table, n_nodes=32)  # a new list: remembered by the list itself
    assert _check_once(other[1], other[0], table, n_nodes=33)  # looser: still remembered
    with pytest.raises(RuntimeError, match=r"out of range \[0, 31\)"):
        _check_once(other[1], other[0], table, n_nodes=31)  # stricter than the list's 32 atoms
