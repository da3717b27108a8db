"""Harmonic frequencies: analytic diatomic, autograd vs finite-difference Hessian, invariance."""
import numpy as np
import pytest
import torch
from ase import units
from scipy.spatial.transform import Rotation

import mlip
from mlip.calculator import MLIPCalculator
from mlip.models.hessian import hessian
from mlip.vibrations import atoms_hessian, finite_difference_hessian, harmonic_wavenumbers
from model_fixtures import random_molecule, small_potential


def test_diatomic_spring_matches_sqrt_k_over_mu():
    k_eV_A2, m1, m2 = 35.0, 12.0, 16.0
    pos = np.array([[0.1, 0.2, 0.3], [0.1 + 0.7, 0.2 + 0.5, 0.3 - 0.4]])
    u = (pos[1] - pos[0]) / np.linalg.norm(pos[1] - pos[0])
    block = k_eV_A2 * np.outer(u, u)
    hess = np.block([[block, -block], [-block, block]])
    (w,) = harmonic_wavenumbers(hess, pos, np.array([m1, m2]), linear=True)
    mu = m1 * m2 / (m1 + m2)
    omega_per_s = np.sqrt(k_eV_A2 / mu) * units.second  # ASE time unit: Å sqrt(amu/eV)
    expected = omega_per_s / (2 * np.pi * units._c * 100)
    assert w == pytest.approx(expected, rel=1e-10)
    assert 1000 < w < 2000  # a C-O-like stretch


def test_finite_difference_hessian_of_quadratic_is_exact():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    k = a @ a.T
    hess = finite_difference_hessian(lambda x: -(k @ x.reshape(-1)).reshape(2, 3), np.zeros((2, 3)), 0.01)
    np.testing.assert_allclose(hess, k, atol=1e-10)


@pytest.fixture(scope="module")
def molecule_and_potential():
    atoms = random_molecule(n_atoms=5, seed=3)
    return atoms, small_potential(dtype=torch.float64)


@pytest.mark.slow  # ~11 s: Hessians of a molecule by autograd and finite differences
def test_autograd_and_finite_difference_frequencies_agree(molecule_and_potential):
    atoms, pot = molecule_and_potential
    h_auto = hessian(pot, mlip.system_from_atoms(atoms)).numpy()
    probe = atoms.copy()
    probe.calc = MLIPCalculator(pot)
    h_fd = atoms_hessian(probe, step_A=1e-4)  # truncation error ~ h² f'''
    np.testing.assert_allclose(h_fd, h_auto, rtol=1e-5, atol=1e-6 * np.abs(h_auto).max())
    w_auto = harmonic_wavenumbers(h_auto, atoms.positions, atoms.get_masses())
    w_fd = harmonic_wavenumbers(h_fd, atoms.positions, atoms.get_masses())
    assert w_auto.shape == (3 * len(atoms) - 6,)
    np.testing.assert_allclose(w_fd, w_auto, atol=1e-3 * np.abs(w_auto).max())


@pytest.mark.slow  # ~18 s: Hessians of a molecule by autograd and finite differences
def test_frequencies_invariant_under_rotation_translation_and_permutation(molecule_and_potential):
    atoms, pot = molecule_and_potential
    w0 = harmonic_wavenumbers(hessian(pot, mlip.system_from_atoms(atoms)).numpy(), atoms.positions, atoms.get_masses())
    moved = atoms.copy()
    rot = Rotation.random(random_state=7).as_matrix()
    moved.positions = atoms.positions @ rot.T + np.array([3.0, -1.0, 2.0])
    perm = np.random.default_rng(1).permutation(len(atoms))
    moved = moved[perm]
    w1 = harmonic_wavenumbers(hessian(pot, mlip.system_from_atoms(moved)).numpy(), moved.positions, moved.get_masses())
    np.testing.assert_allclose(w1, w0, atol=1e-6 * np.abs(w0).max())


@pytest.mark.slow  # ~10 s: Hessians of a molecule by autograd and finite differences
def test_projection_removes_rigid_body_modes_even_away_from_a_minimum(molecule_and_potential):
    # A random (non-stationary) geometry: rotations mix with gradients, but the six
    # rigid-body directions are still projected out and exactly 3N - 6 values come back.
    atoms, pot = molecule_and_potential
    h = hessian(pot, mlip.system_from_atoms(atoms)).numpy()
    assert harmonic_wavenumbers(h, atoms.positions, atoms.get_masses()).size == 3 * len(atoms) - 6


def test_shape_mismatch_and_missing_calculator_are_clear_errors(molecule_and_potential):
    atoms, _ = molecule_and_potential
    with pytest.raises(ValueError, match="do not match"):
        harmonic_wavenumbers(np.eye(6), atoms.positions, atoms.get_masses())
    with pytest.raises(ValueError, match="no calculator"):
        atoms_hessian(atoms.copy())
