"""Wigner D matrices in the real spherical-harmonic basis of :mod:`mlip.o3.spherical_harmonics`.

D^l(R) is defined by Y_l(R v) = D^l(R) Y_l(v) for every vector v. Because the sphere average
of Y_l Y_l^T is the identity (component normalisation), projecting gives the exact formula

    D^l(R) = (1 / 4 pi) * integral over S^2 of  Y_l(R v) Y_l(v)^T  dv,

and the integrand is a polynomial of degree 2l, so :func:`mlip.o3.sphere_quadrature` of
degree 2l evaluates it exactly (to rounding). The construction works for any orthogonal R,
including improper ones: D^l(-I) = (-1)^l I.
"""
import torch
from torch import Tensor

from mlip.o3.sphere_quadrature import sphere_quadrature
from mlip.o3.spherical_harmonics import spherical_harmonics

__all__ = ["wigner_D"]


def wigner_D(l: int, R: Tensor) -> Tensor:
    """Real Wigner D matrix of degree ``l`` for rotation matrix/matrices ``R``.

    Args:
        l: degree (>= 0).
        R: (..., 3, 3) orthogonal matrices acting on column vectors (v' = R @ v), float dtype.

    Returns:
        (..., 2l + 1, 2l + 1) orthogonal matrices with Y_l(R v) = D Y_l(v), same dtype and
        device as R; differentiable with respect to R.

    Example:
        >>> import torch
        >>> from mlip.o3.rotation import random_rotation
        >>> R = random_rotation(torch.Generator().manual_seed(1))
        >>> v = torch.randn(3, dtype=torch.float64)
        >>> lhs = spherical_harmonics(2, R @ v)[4:9]
        >>> rhs = wigner_D(2, R) @ spherical_harmonics(2, v)[4:9]
        >>> bool(torch.allclose(lhs, rhs))
        True
    """
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"wigner_D: l must be an int >= 0, got {l!r}")
    if R.dim() < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"wigner_D: R must have shape (..., 3, 3), got {list(R.shape)}")
    if not R.is_floating_point():
        raise ValueError(f"wigner_D: R must be floating point, got {R.dtype}")
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    tol = 1e-4 if R.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-8
    error = (R @ R.transpose(-1, -2) - eye).abs().max()
    if float(error) > tol:
        raise ValueError(f"wigner_D: R is not orthogonal (max |R R^T - I| = {float(error):.3g})")

    points, weights = sphere_quadrature(2 * l, dtype=R.dtype, device=R.device)
    block = slice(l * l, (l + 1) * (l + 1))
    y = spherical_harmonics(l, points, normalize=False)[:, block]  # (n, 2l+1)
    rotated = torch.matmul(points, R.transpose(-1, -2))  # (..., n, 3): rows R @ v
    y_rotated = spherical_harmonics(l, rotated, normalize=False)[..., block]  # (..., n, 2l+1)
    weighted = y * (weights / weights.sum())[:, None]
    return torch.matmul(y_rotated.transpose(-1, -2), weighted)
