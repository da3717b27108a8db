"""Energy is invariant and forces/stress equivariant under E(3) and permutations."""
import numpy as np
import pytest
import torch

from model_fixtures import predict, random_crystal, random_molecule, small_potential


def _random_orthogonal(seed, reflect):
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    if reflect:
        q = q @ np.diag([1.0, 1.0, -1.0])
    return q


def _transform(atoms, rot, shift):
    b = atoms.copy()
    b.positions = atoms.positions @ rot.T + shift
    if atoms.pbc.any():
        b.set_cell(np.asarray(atoms.cell) @ rot.T, scale_atoms=False)
    return b


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "crystal"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-5)], ids=["f64", "f32"])
def test_energy_invariant_forces_stress_equivariant(reflect, periodic, dtype, tol, potential64, potential32):
    pot = potential64 if dtype == torch.float64 else potential32
    atoms = random_crystal(seed=1) if periodic else random_molecule(seed=1)
    for trial in range(3):
        rot = _random_orthogonal(100 + trial, reflect)
        shift = np.random.default_rng(trial).standard_normal(3) * 2.0
        p0 = predict(pot, [atoms], stress=periodic)
        p1 = predict(pot, [_transform(atoms, rot, shift)], stress=periodic)
        e0, e1 = p0.energy.double().numpy(), p1.energy.double().numpy()
        assert abs(e1[0] - e0[0]) <= tol * abs(e0[0])
        f0, f1 = p0.forces.double().numpy(), p1.forces.double().numpy()
        assert _rel(f1, f0 @ rot.T) <= tol * 10
        if periodic:
            s0, s1 = p0.stress[0].double().numpy(), p1.stress[0].double().numpy()
            assert _rel(s1, rot @ s0 @ rot.T) <= tol * 10


def test_translation_and_permutation_invariance(potential64):
    atoms = random_molecule(n_atoms=8, seed=3)
    perm = np.random.default_rng(0).permutation(len(atoms))
    p0 = predict(potential64, [atoms])
    moved = atoms.copy()
    moved.positions += [3.3, -1.2, 7.7]
    p1 = predict(potential64, [moved[perm]])
    assert abs(float(p1.energy[0] - p0.energy[0])) <= 1e-10 * abs(float(p0.energy[0]))
    np.testing.assert_allclose(p1.forces.numpy(), p0.forces.numpy()[perm], rtol=0, atol=1e-10)
    np.testing.assert_allclose(p1.atomic_energies.numpy(), p0.atomic_energies.numpy()[perm], rtol=0, atol=1e-9)


def test_parity_false_model_is_chiral_parity_true_is_not():
    """parity=False keeps pseudo-tensor paths: rotations still invariant, mirror images differ."""
    atoms = random_molecule(n_atoms=6, seed=5)
    mirror = atoms.copy()
    mirror.positions = atoms.positions * [1, 1, -1]
    chiral = small_potential(parity=False)
    achiral = small_potential(parity=True)
    e = lambda pot, a: float(predict(pot, [a]).energy[0])
    assert abs(e(achiral, mirror) - e(achiral, atoms)) < 1e-10 * abs(e(achiral, atoms))
    assert abs(e(chiral, mirror) - e(chiral, atoms)) > 1e-6
    rot = _random_orthogonal(7, reflect=False)
    assert abs(e(chiral, _transform(atoms, rot, 0.0)) - e(chiral, atoms)) < 1e-10 * abs(e(chiral, atoms))


@pytest.mark.parametrize("l_max", [0, 1, 3])
def test_other_l_max_are_equivariant(l_max):
    pot = small_potential(l_max=l_max, n_layers=2)
    atoms = random_molecule(seed=2)
    rot = _random_orthogonal(11, reflect=True)
    p0, p1 = predict(pot, [atoms]), predict(pot, [_transform(atoms, rot, 0.5)])
    assert abs(float(p1.energy[0] - p0.energy[0])) <= 1e-10 * abs(float(p0.energy[0]))
    assert _rel(p1.forces.numpy(), p0.forces.numpy() @ rot.T) <= 1e-9
