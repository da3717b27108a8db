"""Properties of mlip.o3.wigner_3j (float64): invariance, orthogonality, e3nn agreement."""
import math

import pytest
import torch

from mlip.o3 import random_rotation, spherical_harmonics, tensor_product_paths, wigner_3j, wigner_D

L_MAX = 3
F64 = torch.float64
PATHS = tensor_product_paths(L_MAX, L_MAX, L_MAX, parity=False)  # every triangle triple


def _block(l):
    return slice(l * l, (l + 1) * (l + 1))


def _rotate(c, d1, d2, d3):
    return torch.einsum("ai,bj,ck,ijk->abc", d1, d2, d3, c)


def test_paths_cover_all_triangle_triples_up_to_l3():
    assert len(PATHS) == 34
    assert (1, 1, 1) in PATHS and (3, 3, 3) in PATHS and (0, 1, 2) not in PATHS


def test_invariant_under_random_rotations_in_our_basis():
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        R = random_rotation(gen)
        D = [wigner_D(l, R) for l in range(L_MAX + 1)]
        for l1, l2, l3 in PATHS:
            c = wigner_3j(l1, l2, l3)
            assert (_rotate(c, D[l1], D[l2], D[l3]) - c).abs().max() < 1e-12, (l1, l2, l3)


def test_inversion_multiplies_by_minus_one_to_the_l1_plus_l2_plus_l3():
    D = [wigner_D(l, -torch.eye(3, dtype=F64)) for l in range(L_MAX + 1)]
    for l1, l2, l3 in PATHS:
        c = wigner_3j(l1, l2, l3)
        expected = (-1) ** (l1 + l2 + l3) * c
        assert (_rotate(c, D[l1], D[l2], D[l3]) - expected).abs().max() < 1e-12


def test_unit_frobenius_norm_and_orthogonality_over_m1_m2():
    for l1 in range(L_MAX + 1):
        for l2 in range(L_MAX + 1):
            l3s = range(abs(l1 - l2), l1 + l2 + 1)
            cs = {l3: wigner_3j(l1, l2, l3) for l3 in l3s}
            for l3, c in cs.items():
                assert abs(float(c.norm()) - 1.0) < 1e-13
                for l3b, cb in cs.items():
                    gram = torch.einsum("abc,abd->cd", c, cb)
                    if l3b == l3:
                        expected = torch.eye(2 * l3 + 1, dtype=F64) / (2 * l3 + 1)
                        assert torch.allclose(gram, expected, atol=1e-13), (l1, l2, l3)
                    else:
                        assert gram.abs().max() < 1e-13, (l1, l2, l3, l3b)


def _fit_change_of_basis_to_e3nn(o3, l, vectors):
    """Q_l (orthogonal) with e3nn's Y_l = Q_l @ our Y_l, fitted by least squares."""
    ours = spherical_harmonics(l, vectors)[:, _block(l)]
    ref = o3.spherical_harmonics(l, vectors, normalize=True, normalization="component")
    q_t = torch.linalg.lstsq(ours, ref).solution
    assert (ours @ q_t - ref).abs().max() < 1e-12
    assert torch.allclose(q_t.T @ q_t, torch.eye(2 * l + 1, dtype=F64), atol=1e-12)
    return q_t.T


def test_matches_e3nn_up_to_global_sign_after_change_of_basis():
    o3 = pytest.importorskip("e3nn.o3")
    vectors = torch.randn(40, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    Q = [_fit_change_of_basis_to_e3nn(o3, l, vectors) for l in range(L_MAX + 1)]
    for l1, l2, l3 in PATHS:
        ours = _rotate(wigner_3j(l1, l2, l3), Q[l1], Q[l2], Q[l3])
        ref = o3.wigner_3j(l1, l2, l3, dtype=F64)
        error = min((ours - ref).abs().max(), (ours + ref).abs().max())
        assert error < 1e-12, (l1, l2, l3)


def test_coupled_harmonics_are_a_positive_multiple_of_y_l3_for_even_paths_and_zero_for_odd():
    v = torch.randn(30, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    y = spherical_harmonics(2 * L_MAX, v)
    for l1, l2, l3 in PATHS:
        c = wigner_3j(l1, l2, l3)
        coupled = torch.einsum("abc,na,nb->nc", c, y[:, _block(l1)], y[:, _block(l2)])
        target = y[:, _block(l3)]
        if (l1 + l2 + l3) % 2 == 1:
            assert coupled.abs().max() < 1e-12, (l1, l2, l3)
            continue
        k = float((coupled * target).sum() / (target * target).sum())
        assert k > 0.05, (l1, l2, l3, k)
        assert torch.allclose(coupled, k * target, atol=1e-12), (l1, l2, l3)


def test_one_one_one_is_levi_civita_over_sqrt6():
    eps = torch.zeros(3, 3, 3, dtype=F64)
    for a, b, c in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]:
        eps[a, b, c], eps[b, a, c] = 1.0, -1.0
    assert torch.allclose(wigner_3j(1, 1, 1), eps / math.sqrt(6), atol=1e-15)


def test_dtype_device_cast_and_cached_value_is_not_aliased():
    c32 = wigner_3j(2, 1, 1, dtype=torch.float32, device="cpu")
    assert c32.dtype == torch.float32 and c32.shape == (5, 3, 3)
    c = wigner_3j(2, 1, 1)
    c.zero_()
    assert float(wigner_3j(2, 1, 1).norm()) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("ls", [(0, 1, 2), (1, 1, 3), (3, 0, 2), (-1, 1, 1), (1.0, 1, 1)])
def test_invalid_degrees_raise_value_error(ls):
    with pytest.raises(ValueError, match="wigner_3j"):
        wigner_3j(*ls)
