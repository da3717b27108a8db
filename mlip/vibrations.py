"""Harmonic vibrational analysis: Hessian → normal-mode wavenumbers.

Units: positions Å, energies eV, forces eV/Å, Hessian eV/Å², masses amu, wavenumbers cm⁻¹.

The Hessian comes either from :func:`mlip.models.hessian.hessian` (autograd, exact for
potentials evaluated in torch) or from :func:`finite_difference_hessian` (central differences
of any force function, e.g. an ASE calculator, needed when a baseline runs outside torch).
This module needs numpy and ASE only, so reference scripts in other venvs (PySCF, tblite)
load it by path and analyse their Hessians with the same code.
"""
from __future__ import annotations

import numpy as np
from ase import units


def finite_difference_hessian(forces_fn, positions: np.ndarray, step_A: float = 0.005) -> np.ndarray:
    """(3N, 3N) Hessian in eV/Å² by central differences of ``forces_fn(positions) -> (N, 3) eV/Å``.

    Column k is −(F(x + h e_k) − F(x − h e_k)) / 2h; the result is symmetrised.
    """
    x0 = np.asarray(positions, dtype=float)
    n = x0.size
    hess = np.zeros((n, n))
    for k in range(n):
        plus, minus = x0.copy().reshape(-1), x0.copy().reshape(-1)
        plus[k] += step_A
        minus[k] -= step_A
        f_plus = np.asarray(forces_fn(plus.reshape(x0.shape))).reshape(-1)
        f_minus = np.asarray(forces_fn(minus.reshape(x0.shape))).reshape(-1)
        hess[:, k] = -(f_plus - f_minus) / (2.0 * step_A)
    return 0.5 * (hess + hess.T)


def _rigid_body_modes(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Orthonormal mass-weighted translation and rotation vectors, (3N, 6) or (3N, 5) if linear."""
    sqrt_m = np.sqrt(masses)
    com = (masses[:, None] * positions).sum(0) / masses.sum()
    r = positions - com
    vecs = []
    for axis in np.eye(3):
        vecs.append((sqrt_m[:, None] * axis[None, :]).reshape(-1))
    for axis in np.eye(3):
        vecs.append((sqrt_m[:, None] * np.cross(axis[None, :], r)).reshape(-1))
    # a linear molecule has only two independent rotations: keep the well-conditioned directions
    u, sing, _ = np.linalg.svd(np.array(vecs).T, full_matrices=False)
    return u[:, sing > 1e-8 * sing.max()]


def harmonic_wavenumbers(hessian_eV_A2: np.ndarray, positions: np.ndarray, masses: np.ndarray,
                         linear: bool = False) -> np.ndarray:
    """Harmonic wavenumbers in cm⁻¹ of a free molecule, ascending (3N − 6, or 3N − 5 if ``linear``).

    ``hessian_eV_A2`` (3N, 3N) eV/Å², ``positions`` (N, 3) Å, ``masses`` (N,) amu. Translations and
    rotations are projected out of the mass-weighted Hessian (Eckart) and their near-zero
    eigenvalues dropped; imaginary modes come back as negative numbers.
    """
    hessian_eV_A2 = np.asarray(hessian_eV_A2, dtype=float)
    n = hessian_eV_A2.shape[0]
    if hessian_eV_A2.shape != (n, n) or n != 3 * len(masses) or np.asarray(positions).shape != (len(masses), 3):
        raise ValueError(f"Hessian {hessian_eV_A2.shape}, positions {np.asarray(positions).shape} and "
                         f"{len(masses)} masses do not match: expected (3N, 3N), (N, 3) and N")
    n_rigid = 5 if linear else 6
    masses = np.asarray(masses, dtype=float)
    inv_sqrt_m = 1.0 / np.sqrt(np.repeat(masses, 3))
    mw = hessian_eV_A2 * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    v = _rigid_body_modes(np.asarray(positions, dtype=float), masses)
    proj = np.eye(mw.shape[0]) - v @ v.T
    eig = np.linalg.eigvalsh(proj @ mw @ proj)
    eig = eig[np.argsort(np.abs(eig))][n_rigid:]  # drop the projected rigid-body (zero) modes
    eig = np.sort(eig)
    # eV/(Å² amu) -> s⁻²
    to_si = units._e / (1e-20 * units._amu)
    omega = np.sign(eig) * np.sqrt(np.abs(eig) * to_si)
    return omega / (2.0 * np.pi * units._c * 100.0)


def compare(reference_cm: np.ndarray, predicted_cm: np.ndarray) -> dict:
    """Mode-by-mode comparison (both sorted ascending): MAE cm⁻¹, max |relative| error, per mode."""
    ref, pred = np.asarray(reference_cm), np.asarray(predicted_cm)
    rel = (pred - ref) / ref
    return {
        "mae_cm-1": float(np.mean(np.abs(pred - ref))),
        "max_abs_rel_error": float(np.max(np.abs(rel))),
        "mean_abs_rel_error": float(np.mean(np.abs(rel))),
        "n_modes_within_2pct": int(np.sum(np.abs(rel) <= 0.02)),
        "n_modes": int(ref.size),
        "relative_error_per_mode": [float(x) for x in rel],
    }


def atoms_hessian(atoms, step_A: float = 0.005) -> np.ndarray:
    """(3N, 3N) Hessian in eV/Å² of ``atoms`` with its attached ASE calculator, by central
    differences of the forces (step ``step_A`` Å). Works for any calculator, including mlip
    potentials whose baseline runs outside torch; ``atoms`` itself is not modified."""
    if atoms.calc is None:
        raise ValueError("atoms has no calculator attached: set atoms.calc (e.g. mlip.MLIPCalculator(potential))")
    probe = atoms.copy()
    probe.calc = atoms.calc

    def forces(x):
        probe.positions = x
        return probe.get_forces()

    return finite_difference_hessian(forces, atoms.positions, step_A)
