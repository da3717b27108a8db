"""Properties of mlip.o3.spherical_harmonics (float64 unless a test says otherwise)."""
import math

import numpy as np
import pytest
import torch

from mlip.o3 import SphericalHarmonics, random_rotation, spherical_harmonics, wigner_D

L_MAX = 6
F64 = torch.float64


def _block(l):
    return slice(l * l, (l + 1) * (l + 1))


def _random_vectors(n, seed=0, dtype=F64):
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _legendre(l, t):
    """P_l(t) by the Bonnet recursion (independent of the code under test)."""
    p_prev, p = torch.ones_like(t), t
    if l == 0:
        return p_prev
    for k in range(1, l):
        p_prev, p = p, ((2 * k + 1) * t * p - k * p_prev) / (k + 1)
    return p


def test_component_normalisation_sum_over_m_is_2l_plus_1():
    y = spherical_harmonics(L_MAX, _random_vectors(50))
    assert y.shape == (50, (L_MAX + 1) ** 2)
    assert torch.allclose(y[:, 0], torch.ones(50, dtype=F64), atol=0, rtol=0)
    for l in range(L_MAX + 1):
        norms = (y[:, _block(l)] ** 2).sum(-1)
        assert torch.allclose(norms, torch.full_like(norms, 2 * l + 1), atol=1e-12), l


def test_orthonormal_under_exact_gauss_legendre_times_uniform_phi_quadrature():
    # Y_l Y_l' has degree <= 2 L_MAX: n_z = L_MAX + 1 Gauss nodes, 2 L_MAX + 1 azimuths suffice.
    z, wz = np.polynomial.legendre.leggauss(L_MAX + 1)
    n_phi = 2 * L_MAX + 1
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    zz, pp = np.meshgrid(z, phi, indexing="ij")
    rho = np.sqrt(1 - zz**2)
    points = np.stack([rho * np.cos(pp), rho * np.sin(pp), zz], -1).reshape(-1, 3)
    weights = np.repeat(wz, n_phi) * (2 * np.pi / n_phi)
    y = spherical_harmonics(L_MAX, torch.from_numpy(points))
    gram = y.T @ (y * torch.from_numpy(weights)[:, None]) / (4 * math.pi)
    assert torch.allclose(gram, torch.eye(gram.shape[0], dtype=F64), atol=1e-12)


def test_convention_l1_is_sqrt3_y_z_x_and_l2_matches_table():
    v = _random_vectors(20, seed=1)
    u = v / v.norm(dim=-1, keepdim=True)
    x, y, z = u.unbind(-1)
    sh = spherical_harmonics(2, v)
    assert torch.allclose(sh[:, 1:4], math.sqrt(3) * torch.stack([y, z, x], -1), atol=1e-14)
    expected_l2 = math.sqrt(15) * torch.stack(
        [x * y, y * z, (3 * z**2 - 1) / (2 * math.sqrt(3)), x * z, (x**2 - y**2) / 2], -1
    )
    assert torch.allclose(sh[:, 4:9], expected_l2, atol=1e-14)


def test_addition_theorem_gives_legendre_polynomial():
    a, b = _random_vectors(30, seed=2), _random_vectors(30, seed=3)
    ya, yb = spherical_harmonics(L_MAX, a), spherical_harmonics(L_MAX, b)
    cos_angle = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    for l in range(L_MAX + 1):
        lhs = (ya[:, _block(l)] * yb[:, _block(l)]).sum(-1)
        assert torch.allclose(lhs, (2 * l + 1) * _legendre(l, cos_angle), atol=1e-12), l


def test_equivariance_under_random_rotations():
    v = _random_vectors(40, seed=4)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        R = random_rotation(gen)
        y, y_rot = spherical_harmonics(L_MAX, v), spherical_harmonics(L_MAX, v @ R.T)
        for l in range(L_MAX + 1):
            D = wigner_D(l, R)
            assert torch.allclose(y_rot[:, _block(l)], y[:, _block(l)] @ D.T, atol=1e-12), l
            assert torch.allclose(D @ D.T, torch.eye(2 * l + 1, dtype=F64), atol=1e-12)


def test_wigner_D_is_a_group_homomorphism():
    gen = torch.Generator().manual_seed(6)
    R1, R2 = random_rotation(gen), random_rotation(gen)
    for l in range(L_MAX + 1):
        lhs = wigner_D(l, R1 @ R2)
        assert torch.allclose(lhs, wigner_D(l, R1) @ wigner_D(l, R2), atol=1e-12), l


def test_parity_y_of_minus_x_is_minus_one_to_the_l():
    v = _random_vectors(20, seed=7)
    y, y_neg = spherical_harmonics(L_MAX, v), spherical_harmonics(L_MAX, -v)
    for l in range(L_MAX + 1):
        assert torch.allclose(y_neg[:, _block(l)], (-1) ** l * y[:, _block(l)], atol=1e-14), l


def test_normalize_false_gives_solid_harmonics_r_to_the_l():
    v = _random_vectors(20, seed=8) * 1.7
    y, solid = spherical_harmonics(L_MAX, v), spherical_harmonics(L_MAX, v, normalize=False)
    r = v.norm(dim=-1, keepdim=True)
    for l in range(L_MAX + 1):
        assert torch.allclose(solid[:, _block(l)], y[:, _block(l)] * r**l, rtol=1e-12, atol=1e-12)


def test_gram_and_change_of_basis_agree_with_e3nn():
    o3 = pytest.importorskip("e3nn.o3")
    a, b = _random_vectors(60, seed=9), _random_vectors(60, seed=10)
    for l in range(L_MAX + 1):
        ours_a = spherical_harmonics(l, a)[:, _block(l)]
        ours_b = spherical_harmonics(l, b)[:, _block(l)]
        ref_a = o3.spherical_harmonics(l, a, normalize=True, normalization="component")
        ref_b = o3.spherical_harmonics(l, b, normalize=True, normalization="component")
        assert torch.allclose(ours_a @ ours_b.T, ref_a @ ref_b.T, atol=1e-11), l
        # e3nn's Y_l = Q_l @ our Y_l for one orthogonal Q_l (fitted by least squares).
        q_t = torch.linalg.lstsq(ours_a, ref_a).solution
        assert (ours_a @ q_t - ref_a).abs().max() < 1e-12, l
        assert torch.allclose(q_t.T @ q_t, torch.eye(2 * l + 1, dtype=F64), atol=1e-12), l
        assert (ours_b @ q_t - ref_b).abs().max() < 1e-12, l  # holds on unseen points too


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torchscript_function_and_module_equal_eager(dtype):
    v = _random_vectors(10, seed=11, dtype=dtype)
    eager = spherical_harmonics(4, v)
    scripted_fn = torch.jit.script(spherical_harmonics)
    scripted_module = torch.jit.script(SphericalHarmonics(4))
    assert scripted_module.dim == 25
    assert torch.equal(scripted_fn(4, v, True), eager)
    assert torch.equal(scripted_module(v), eager)
    assert eager.dtype == dtype


def test_float32_matches_float64():
    v = _random_vectors(100, seed=12)
    y64 = spherical_harmonics(L_MAX, v)
    y32 = spherical_harmonics(L_MAX, v.float())
    assert (y32.double() - y64).abs().max() < 2e-5


@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck_and_gradgradcheck_float64(normalize):
    v = _random_vectors(3, seed=13).requires_grad_()
    fn = lambda t: spherical_harmonics(4, t, normalize)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (v,))
    assert torch.autograd.gradgradcheck(fn, (v,))


def test_zero_vector_gives_finite_values_and_gradients():
    v = torch.zeros(2, 3, dtype=F64, requires_grad=True)
    y = spherical_harmonics(3, v)
    expected = torch.zeros(2, 16, dtype=F64)
    expected[:, 0] = 1.0
    assert torch.equal(y.detach(), expected)
    (grad,) = torch.autograd.grad(y.square().sum() + y.sum(), v, create_graph=True)
    (hess_row,) = torch.autograd.grad(grad.sum(), v)
    assert torch.isfinite(grad).all() and torch.isfinite(hess_row).all()


@pytest.mark.parametrize(
    "l_max, vectors",
    [(-1, torch.zeros(2, 3)), (2, torch.zeros(2, 4)), (2, torch.zeros(2, 3, dtype=torch.int64))],
)
def test_bad_inputs_raise_value_error(l_max, vectors):
    with pytest.raises(ValueError, match="spherical_harmonics"):
        spherical_harmonics(l_max, vectors)
