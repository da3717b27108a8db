"""Last-layer prediction rigidity (mlip.uncertainty): the features are the readout's last layer,
recording them changes nothing, σ has the model's symmetries and grows away from the training
data, and the covariance / calibration algebra matches a direct computation."""
import ase
import numpy as np
import pytest
import torch

import mlip
from mlip.errors import ConfigError
from mlip.uncertainty import (LLPR, FeatureCovariance, ReadoutRecorder, fit_force_llpr, fit_llpr, fit_variance_scale,
                              force_feature_jacobian, last_layer_features)
from model_fixtures import predict, random_molecule, small_potential


class _Batch:
    def __init__(self, pot, atoms_list):
        self.system = mlip.system_from_atoms(atoms_list, dtype=pot.dtype)
        self.edges = mlip.neighbor_list(self.system, pot.cutoff)


def _rattled(atoms, n, amplitude, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = atoms.copy()
        a.positions += amplitude * rng.standard_normal(a.positions.shape)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def pot():
    return small_potential(torch.float64, seed=3)


@pytest.fixture(scope="module")
def llpr(pot):
    train = [_Batch(pot, [random_molecule(7, seed=s)]) for s in range(12)]
    return fit_llpr(pot, train, relative_lambda=1e-4)


def test_features_are_the_last_layer_and_recording_changes_nothing(pot):
    mols = [random_molecule(6, seed=1), random_molecule(8, seed=2)]
    b = _Batch(pot, mols)
    plain = pot(b.system, b.edges)
    with ReadoutRecorder(pot) as rec:
        recorded = pot(b.system, b.edges)
    torch.testing.assert_close(recorded.energy, plain.energy, rtol=0, atol=1e-12)
    torch.testing.assert_close(recorded.forces, plain.forces, rtol=0, atol=1e-12)
    f = rec.features()
    readout = pot.model.terms[0].readout
    species = pot.model.terms[0].species_index(b.system.atomic_numbers)
    # e_i = f_i·w2 + shift[Z_i] reproduces the atomic energies
    torch.testing.assert_close(f @ readout.w2[:, 0] + readout.shift[species], plain.atomic_energies, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(last_layer_features(pot, b.system, b.edges), f, rtol=1e-12, atol=1e-12)
    g = last_layer_features(pot, b.system, b.edges, with_shift=True)
    assert g.shape == (f.shape[0], f.shape[1] + 3)
    torch.testing.assert_close(g[:, -3:].sum(dim=1), torch.ones(f.shape[0], dtype=f.dtype))


def test_force_features_give_the_forces(pot):
    b = _Batch(pot, [random_molecule(6, seed=4), random_molecule(5, seed=5)])
    jac = force_feature_jacobian(pot, b.system, b.edges)
    w2 = pot.model.terms[0].readout.w2[:, 0].detach()
    torch.testing.assert_close(torch.einsum("k,kjx->jx", w2, jac), pot(b.system, b.edges).forces, rtol=1e-10, atol=1e-10)


def test_sigma_invariant_under_rotation_translation_permutation(pot, llpr):
    llpr = LLPR(llpr.covariance, llpr.atom_covariance, False, 1e-3, 2.0, 1e-3, 0.5)
    mol = random_molecule(7, seed=30)
    rot = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64))[0].numpy()
    moved = ase.Atoms(numbers=mol.numbers, positions=mol.positions @ rot.T + np.array([1.3, -2.0, 0.7]))
    perm = np.random.default_rng(2).permutation(len(mol))
    permuted = mol[perm]
    out = [llpr.predict(pot, b.system, b.edges)[1] for b in (_Batch(pot, [m]) for m in (mol, moved, permuted))]
    for s in out[1:]:
        np.testing.assert_allclose(s.energy_sigma_eV, out[0].energy_sigma_eV, rtol=1e-9)
    np.testing.assert_allclose(out[1].atom_sigma_eV_per_A, out[0].atom_sigma_eV_per_A, rtol=1e-9)
    np.testing.assert_allclose(out[2].atom_sigma_eV_per_A, out[0].atom_sigma_eV_per_A[perm], rtol=1e-9)
    assert np.all(out[0].atom_sigma_eV_per_A > 0)


def test_sigma_grows_far_from_the_training_data(pot):
    """Trained on rattled copies of one molecule: another rattle is rigid, a different molecule is not."""
    base = random_molecule(7, seed=40)
    train = [_Batch(pot, _rattled(base, 4, 0.03, seed=s)) for s in range(5)]
    llpr = fit_llpr(pot, train, relative_lambda=1e-8)
    near = llpr.predict(pot, *vars(_Batch(pot, _rattled(base, 6, 0.03, seed=99))).values())[1]
    far = llpr.predict(pot, *vars(_Batch(pot, [random_molecule(7, seed=s) for s in (41, 42, 43)])).values())[1]
    assert far.energy_sigma_eV.min() > 5 * near.energy_sigma_eV.max()
    assert np.median(far.atom_sigma_eV_per_A) > 3 * np.median(near.atom_sigma_eV_per_A)


def test_covariance_and_quadratic_form_match_numpy():
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((n, 5)) * np.array([3.0, 1.0, 0.1, 0.01, 1e-3]) for n in (4, 7, 3)]
    cov = FeatureCovariance.from_blocks(blocks)
    full = np.concatenate(blocks)
    np.testing.assert_allclose(cov.matrix, full.T @ full, rtol=1e-10, atol=1e-12)
    assert cov.n_rows == 14
    f = rng.standard_normal((6, 5))
    for lam in (1e-6, 0.3):
        direct = np.einsum("nd,nd->n", f, np.linalg.solve(full.T @ full + lam * np.eye(5), f.T).T)
        np.testing.assert_allclose(cov.quadratic(f, lam), direct, rtol=1e-8)
    # structure σ from per-atom features: sums per structure
    llpr = LLPR(cov, None, False, 0.3, 4.0, 1e-6, 1.0)
    s = llpr.sigmas_from_features(f, np.array([0, 0, 1, 1, 1, 2]), 3)
    sums = np.stack([f[:2].sum(0), f[2:5].sum(0), f[5]])
    np.testing.assert_allclose(s.energy_sigma_eV ** 2, 4.0 * cov.quadratic(sums, 0.3), rtol=1e-12)
    restored = LLPR.from_dict(llpr.to_dict())
    np.testing.assert_allclose(restored.sigmas_from_features(f, np.array([0, 0, 1, 1, 1, 2]), 3).atom_sigma_eV_per_A,
                               s.atom_sigma_eV_per_A, rtol=1e-12)


def test_calibration_recovers_the_scale_and_regulariser():
    """Errors drawn with variance α·q(λ*): the fit finds α within its statistical error and λ*."""
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((40, 4)) * np.array([10.0, 1.0, 0.1, 0.01])
    cov = FeatureCovariance.from_blocks([feats])
    test = rng.standard_normal((20000, 4))
    grid = [10.0 ** k for k in range(-4, 3)]
    lam_true, alpha_true = 1.0, 0.25
    q = cov.quadratic(test, lam_true)
    err2 = (np.sqrt(alpha_true * q / 3)[:, None] * rng.standard_normal((20000, 3))) ** 2
    lam, alpha, _ = fit_variance_scale(lambda l: cov.quadratic(test, l), err2.sum(axis=1), grid, dof=3)
    assert lam == pytest.approx(lam_true)
    assert alpha == pytest.approx(alpha_true, rel=4 * np.sqrt(2 / (3 * 20000)) + 1e-3)


def test_force_llpr_sigma_positive_and_invariant(pot):
    train = [_Batch(pot, [random_molecule(6, seed=s)]) for s in range(4)]
    fl = fit_force_llpr(pot, train)
    mol = random_molecule(6, seed=50)
    shifted = ase.Atoms(numbers=mol.numbers, positions=mol.positions + np.array([0.4, 0.1, -0.3]))
    a, b = (fl.atom_sigmas(pot, x.system, x.edges) for x in (_Batch(pot, [mol]), _Batch(pot, [shifted])))
    np.testing.assert_allclose(a, b, rtol=1e-8)
    assert np.all(a > 0)


def test_committee_is_refused():
    committee = mlip.build_potential(mlip.ModelConfig(elements=("H",), cutoff=3.0, channels=4, n_layers=1), committee_size=2)
    b = _Batch(committee, [ase.Atoms("H2", positions=[[0, 0, 0], [0.8, 0, 0]])])
    with pytest.raises(ConfigError, match="single model"):
        last_layer_features(committee, b.system, b.edges)


def _labelled_batch(pot, atoms_list, noise_scale, seed):
    """A training Batch whose labels are the model's own prediction plus Gaussian noise × noise_scale."""
    from mlip.data.batch import Graph, collate
    from mlip.data.frames import Frame

    rng = np.random.default_rng(seed)
    graphs = []
    for a in atoms_list:
        p = predict(pot, [a])
        frame = Frame(numbers=a.numbers.astype(np.int64), positions=a.positions.copy(), cell=np.zeros((3, 3)),
                      pbc=np.zeros(3, dtype=bool), energy=float(p.energy[0]) + noise_scale * 0.1 * rng.standard_normal(),
                      forces=p.forces.detach().numpy() + noise_scale * 0.05 * rng.standard_normal((len(a), 3)), stress=None)
        system = mlip.system_from_atoms(a)
        e = mlip.neighbor_list(system, pot.cutoff)
        graphs.append(Graph(frame, e.index.numpy(), e.shift.numpy()))
    return collate(graphs, pot.dtype)


def test_calibration_scales_with_the_errors(pot, llpr):
    """Doubling every validation error leaves λ and quadruples α (energy, atom and force σ)."""
    mols = [random_molecule(7, seed=s) for s in range(60, 66)]
    one, two = _labelled_batch(pot, mols, 1.0, seed=5), _labelled_batch(pot, mols, 2.0, seed=5)
    a, b = llpr.calibrated(pot, [one]), llpr.calibrated(pot, [two])
    assert a.energy_lambda == pytest.approx(b.energy_lambda) and a.atom_lambda == pytest.approx(b.atom_lambda)
    assert b.energy_alpha == pytest.approx(4 * a.energy_alpha, rel=1e-9)
    assert b.atom_alpha == pytest.approx(4 * a.atom_alpha, rel=1e-9)
    fl = fit_force_llpr(pot, [_Batch(pot, [random_molecule(6, seed=s)]) for s in range(3)])
    fa, fb = fl.calibrated(pot, [one]), fl.calibrated(pot, [two])
    assert fa.lam == pytest.approx(fb.lam) and fb.alpha == pytest.approx(4 * fa.alpha, rel=1e-9)
