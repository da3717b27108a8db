"""Forces, stress and Hessian equal central finite differences (float64); ΣF = 0."""
import numpy as np
import pytest
import torch

import mlip
from mlip.models.hessian import hessian
from model_fixtures import predict, random_crystal, random_molecule

H = 1e-4
H_STRAIN = 2e-5  # truncation O(h^2) vs round-off of ~1e3 eV energies


def _energy(pot, atoms):
    return float(predict(pot, [atoms]).energy[0])


@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "small_triclinic_cell"])
def test_forces_match_central_differences_float64(potential64, periodic):
    atoms = random_crystal(seed=2) if periodic else random_molecule(seed=2)
    forces = predict(potential64, [atoms]).forces.numpy()
    fd = np.zeros_like(forces)
    for a in range(len(atoms)):
        for d in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[a, d] += H
            minus.positions[a, d] -= H
            fd[a, d] = -(_energy(potential64, plus) - _energy(potential64, minus)) / (2 * H)
    np.testing.assert_allclose(forces, fd, rtol=1e-6, atol=1e-7)


def test_stress_matches_strain_finite_differences_float64(potential64):
    atoms = random_crystal(seed=4)
    assert potential64.cutoff > 0.5 * min(np.linalg.norm(atoms.cell, axis=1))  # many images
    stress = predict(potential64, [atoms], stress=True).stress[0].numpy()
    volume = atoms.get_volume()
    fd = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            sym = np.zeros((3, 3))
            sym[a, b] += 0.5
            sym[b, a] += 0.5
            es = []
            for sign in (1, -1):
                deformed = atoms.copy()
                deformed.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + sign * H_STRAIN * sym), scale_atoms=True)
                es.append(_energy(potential64, deformed))
            fd[a, b] = (es[0] - es[1]) / (2 * H_STRAIN * volume)
    np.testing.assert_allclose(stress, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(stress, stress.T, atol=1e-12)


@pytest.mark.parametrize("periodic", [False, True])
def test_forces_sum_to_zero(potential64, periodic):
    atoms = random_crystal(seed=5) if periodic else random_molecule(seed=5)
    forces = predict(potential64, [atoms]).forces.numpy()
    assert np.abs(forces.sum(axis=0)).max() < 1e-11 * max(1.0, np.abs(forces).max())


def test_hessian_symmetric_and_equals_finite_differences_of_forces(potential64):
    atoms = random_molecule(n_atoms=4, seed=6)
    system = mlip.system_from_atoms(atoms)
    hess = hessian(potential64, system).numpy()
    np.testing.assert_allclose(hess, hess.T, atol=1e-9)
    fd = np.zeros_like(hess)
    for k in range(3 * len(atoms)):
        a, d = divmod(k, 3)
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, d] += H
        minus.positions[a, d] -= H
        fp = predict(potential64, [plus]).forces.numpy().reshape(-1)
        fm = predict(potential64, [minus]).forces.numpy().reshape(-1)
        fd[:, k] = -(fp - fm) / (2 * H)
    np.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-6)
