"""A full model gives the same energies, forces, stresses (and force-loss gradients, Hessians)
with backend="native" as with backend="reference"; the scripted native model works; asking
for the native backend without the library is an error, never a silent fallback, while
backend="auto" falls back to the reference and says so."""
import dataclasses
import os
import subprocess
import sys

import ase
import numpy as np
import pytest
import torch

import mlip
from mlip.errors import ConfigError
from native_support import assert_close_scaled, native_or_skip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(**overrides):
    base = dict(elements=("H", "C", "O"), cutoff=3.5, l_max=2, channels=8, n_layers=3, radial_hidden=16,
                readout_hidden=8, avg_num_neighbors=6.0)
    base.update(overrides)
    return mlip.ModelConfig(**base)


def _pair(dtype, **overrides):
    ref = mlip.build_potential(_config(**overrides), dtype=dtype, seed=1, backend="reference")
    nat = mlip.build_potential(_config(**overrides), dtype=dtype, seed=2, backend="native")
    nat.load_state_dict(ref.state_dict())  # same weights (the native module has the same state_dict)
    return ref, nat


def _structures():
    rng = np.random.default_rng(0)
    cell = np.array([[3.1, 0.0, 0.0], [0.6, 2.9, 0.0], [-0.4, 0.5, 3.2]])
    crystal = ase.Atoms(numbers=[1, 6, 8, 8], cell=cell, pbc=True, scaled_positions=[[0, 0, 0], [0.5, 0.1, 0.3],
                                                                                        [0.2, 0.6, 0.7], [0.8, 0.4, 0.1]])
    mol = ase.Atoms(numbers=[6, 8, 1, 1, 1], positions=[[0, 0, 0], [1.2, 0, 0], [-0.5, 0.9, 0.1], [-0.5, -0.9, 0.2],
                                                         [1.6, 0.8, -0.3]])
    lone = ase.Atoms(numbers=[8, 1], positions=[[0, 0, 0], [9.0, 0, 0]])  # isolated atoms: no edges
    slab = crystal.copy()
    slab.pbc = [True, True, False]
    slab.positions += rng.normal(0, 0.05, slab.positions.shape)
    return [crystal, mol, lone, slab]


@pytest.fixture(autouse=True)
def _needs_native():
    native_or_skip()


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("l_max,parity", [(2, True), (3, False), (1, True)])
def test_model_energy_forces_stress_same_with_native_and_reference(dtype, rtol, l_max, parity):
    ref, nat = _pair(dtype, l_max=l_max, parity=parity)
    system = mlip.system_from_atoms(_structures(), dtype=dtype)
    edges = mlip.neighbor_list(system, ref.cutoff)
    a = ref(system, edges, compute_stress=True)
    b = nat(system, edges, compute_stress=True)
    assert_close_scaled(b.energy, a.energy, rtol, "energy")
    assert_close_scaled(b.forces, a.forces, rtol, "forces")
    assert_close_scaled(b.stress, a.stress, rtol, "stress")


def test_model_native_with_native_neighbor_list_equals_reference_pipeline():
    ref, nat = _pair(torch.float64)
    system = mlip.system_from_atoms(_structures())
    a = ref(system, mlip.neighbor_list(system, ref.cutoff, backend="reference"), compute_stress=True)
    b = nat(system, mlip.neighbor_list(system, nat.cutoff, backend="native"), compute_stress=True)
    assert_close_scaled(b.energy, a.energy, 1e-12, "energy")
    assert_close_scaled(b.forces, a.forces, 1e-12, "forces")


def test_force_loss_parameter_gradients_same_with_native_and_reference():
    """Training on forces needs the double backward of tp_conv."""
    ref, nat = _pair(torch.float64)
    system = mlip.system_from_atoms(_structures()[:2])
    edges = mlip.neighbor_list(system, ref.cutoff)
    target = torch.randn(system.positions.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grads = []
    for pot in (ref, nat):
        pred = pot(system, edges, compute_stress=True, create_graph=True)
        loss = ((pred.forces - target) ** 2).sum() + (pred.stress**2).sum() + pred.energy.sum() ** 2
        params = list(pot.parameters())
        g = torch.autograd.grad(loss, params, allow_unused=True)
        grads.append([torch.zeros_like(p) if d is None else d for p, d in zip(params, g)])
    for (name, _), a, b in zip(ref.named_parameters(), grads[0], grads[1]):
        assert_close_scaled(b, a, 1e-11, f"d loss / d {name}")


def test_hessian_same_with_native_and_reference():
    ref, nat = _pair(torch.float64, n_layers=2)
    system = mlip.system_from_atoms(_structures()[1][:3])
    assert_close_scaled(mlip.hessian(nat, system), mlip.hessian(ref, system), 1e-11, "hessian")


def test_scripted_native_model_equals_eager():
    _, nat = _pair(torch.float64)
    scripted = torch.jit.script(nat.model)
    system = mlip.system_from_atoms(_structures())
    edges = mlip.neighbor_list(system, nat.cutoff)
    eager = nat.model(system, edges, True, True, False)
    compiled = scripted(system, edges, True, True, False)
    assert_close_scaled(compiled.energy, eager.energy, 1e-12, "energy")
    assert_close_scaled(compiled.forces, eager.forces, 1e-12, "forces")
    assert_close_scaled(compiled.stress, eager.stress, 1e-12, "stress")


def test_native_and_reference_potentials_share_weights_files(tmp_path):
    ref, nat = _pair(torch.float64)
    assert (ref.backend, nat.backend) == ("reference", "native")
    assert "backend='native'" in repr(nat) and "backend='reference'" in repr(ref)
    path = nat.save(tmp_path / "native.pt")
    system = mlip.system_from_atoms(_structures()[0])
    edges = mlip.neighbor_list(system, ref.cutoff)
    expected = ref(system, edges).forces
    for backend in ("auto", "native", "reference"):
        loaded = mlip.load_potential(path, backend=backend)
        assert loaded.backend == ("native" if backend == "auto" else backend)
        assert_close_scaled(loaded(system, edges).forces, expected, 1e-12, f"forces ({backend})")
        switched = loaded.set_backend("reference" if loaded.backend == "native" else "native")
        assert switched is loaded and loaded.backend != ("native" if backend == "auto" else backend)
        assert_close_scaled(loaded(system, edges).forces, expected, 1e-12, f"forces (switched from {backend})")
        assert set(loaded.state_dict()) == set(ref.state_dict())


def test_unknown_backend_is_an_error():
    from mlip.errors import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="fast"):
        mlip.build_potential(_config(), backend="fast")
    with pytest.raises(ConfigError, match="evaluated, not stored"):
        mlip.ModelConfig.from_dict({**_config().to_dict(), "backend": "native"})


@pytest.mark.slow  # ~5 s: a fresh interpreter without the op library
def test_native_backend_without_library_raises_backend_unavailable():
    code = (
        "import mlip, ase.build\n"
        "from mlip.errors import BackendUnavailableError\n"
        "cfg = mlip.ModelConfig(elements=('H',), cutoff=3.0, channels=4, n_layers=1)\n"
        "pot = mlip.build_potential(cfg)\n"
        "assert pot.backend == 'reference', pot  # auto falls back\n"
        "assert mlip.load_potential('cuau-emt').backend == 'reference'  # a shipped potential runs anywhere\n"
        "for f in (lambda: mlip.build_potential(cfg, backend='native'),\n"
        "          lambda: pot.set_backend('native'),\n"
        "          lambda: mlip.neighbor_list(mlip.system_from_atoms(ase.build.molecule('H2O')), 2.0, backend='native')):\n"
        "    try:\n"
        "        f()\n"
        "    except BackendUnavailableError as e:\n"
        "        assert 'make ops' in str(e), e\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
        "print('ok')\n"
    )
    env = dict(os.environ, MLIP_OPS_LIBRARY=os.path.join(REPO, "build", "does-not-exist.so"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
