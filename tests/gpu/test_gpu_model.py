"""The whole model on the device (native kernels, the device's neighbour list) against the same
weights on the CPU reference kernels: energy, forces and stress (float64 to 1e-12, float32 to
1e-5 of the scale), the Hessian (float64), and forces identical run to run."""
import ase
import ase.build
import numpy as np
import pytest
import torch

import mlip
from gpu_support import assert_close_scaled

DTYPES = [pytest.param(torch.float64, 1e-12, id="float64"), pytest.param(torch.float32, 1e-5, id="float32")]


def _config(**overrides):
    base = dict(elements=("H", "C", "O", "Cu"), cutoff=3.5, l_max=2, channels=8, n_layers=3, radial_hidden=16,
                readout_hidden=8, avg_num_neighbors=12.0)
    return mlip.ModelConfig(**{**base, **overrides})


def _pair(dtype, device, **overrides):
    """(CPU reference, native on device) with the same weights."""
    ref = mlip.build_potential(_config(**overrides), dtype=dtype, seed=1, backend="reference")
    nat = mlip.build_potential(_config(**overrides), dtype=dtype, seed=2, backend="native", device=device)
    nat.load_state_dict(ref.state_dict())
    return ref, nat


def _structures():
    rng = np.random.default_rng(0)
    cell = np.array([[3.1, 0.0, 0.0], [0.6, 2.9, 0.0], [-0.4, 0.5, 3.2]])
    crystal = ase.Atoms(numbers=[1, 6, 8, 8], cell=cell, pbc=True,
                        scaled_positions=[[0, 0, 0], [0.5, 0.1, 0.3], [0.2, 0.6, 0.7], [0.8, 0.4, 0.1]])
    mol = ase.Atoms(numbers=[6, 8, 1, 1, 1], positions=[[0, 0, 0], [1.2, 0, 0], [-0.5, 0.9, 0.1], [-0.5, -0.9, 0.2],
                                                         [1.6, 0.8, -0.3]])
    lone = ase.Atoms(numbers=[8, 1], positions=[[0, 0, 0], [9.0, 0, 0]])  # no edges
    slab = crystal.copy()
    slab.pbc = [True, True, False]
    slab.positions += rng.normal(0, 0.05, slab.positions.shape)
    cu = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    cu.rattle(0.05, seed=2)
    return [crystal, mol, lone, slab, cu]


def _to(system, device):
    return mlip.System(*(t.to(device) if t is not None else None for t in system))


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_energy_forces_stress_on_device_match_cpu_reference(device, dtype, rtol):
    ref, nat = _pair(dtype, device)
    system = mlip.system_from_atoms(_structures(), dtype=dtype)
    expected = ref(system, mlip.neighbor_list(system, ref.cutoff), compute_stress=True)
    on_device = _to(system, device)
    got = nat(on_device, mlip.neighbor_list(on_device, nat.cutoff, backend="native"), compute_stress=True)
    assert got.forces.device.type == device
    for name in ("energy", "forces", "stress"):
        assert_close_scaled(getattr(got, name).cpu(), getattr(expected, name), rtol, f"{name} ({dtype}, {device})")


def test_hessian_on_device_matches_cpu_reference(device):
    ref, nat = _pair(torch.float64, device, n_layers=2)
    system = mlip.system_from_atoms(_structures()[1][:4])
    expected = mlip.hessian(ref, system)
    got = mlip.hessian(nat, _to(system, device))
    assert_close_scaled(got.cpu(), expected, 1e-11, f"hessian ({device})")


def test_forces_are_identical_run_to_run(device):
    _, nat = _pair(torch.float32, device, channels=16)
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    atoms.rattle(0.1, seed=3)
    system = _to(mlip.system_from_atoms(atoms, dtype=torch.float32), device)
    edges = mlip.neighbor_list(system, nat.cutoff, backend="native")
    first = nat(system, edges, compute_stress=True)
    second = nat(system, mlip.neighbor_list(system, nat.cutoff, backend="native"), compute_stress=True)
    assert torch.equal(first.forces, second.forces), f"forces differ run to run on {device}"
