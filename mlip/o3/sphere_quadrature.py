"""Exact product quadrature on the unit sphere (Gauss-Legendre in cos(theta) x uniform phi).

The rule integrates every polynomial of degree <= ``degree`` in (x, y, z) over the unit sphere
exactly (up to rounding): ceil((degree + 1) / 2) Gauss-Legendre nodes in z = cos(theta)
(exact to degree 2n - 1) times degree + 1 equally spaced azimuths (exact for trigonometric
polynomials of order <= degree). Weights sum to 4 pi (the sphere's area, in steradians).

The Gauss-Legendre nodes come from the Golub-Welsch eigenvalue method in float64, so the
module needs only torch.
"""
import functools
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ["sphere_quadrature"]


@functools.lru_cache(maxsize=None)
def _sphere_quadrature_float64(degree: int) -> Tuple[Tensor, Tensor]:
    n_z = degree // 2 + 1
    n_phi = degree + 1
    # Golub-Welsch: Jacobi matrix of the Legendre recurrence, off-diagonal k / sqrt(4k^2 - 1).
    k = torch.arange(1, n_z, dtype=torch.float64)
    off = k / torch.sqrt(4.0 * k * k - 1.0)
    jacobi = torch.diag(off, 1) + torch.diag(off, -1)
    nodes, vectors = torch.linalg.eigh(jacobi)
    z_weights = 2.0 * vectors[0, :] ** 2  # sum to 2 = length of [-1, 1]
    phi = torch.arange(n_phi, dtype=torch.float64) * (2.0 * math.pi / n_phi)
    z = nodes[:, None].expand(n_z, n_phi)
    rho = torch.sqrt(torch.clamp(1.0 - z * z, min=0.0))
    points = torch.stack([rho * torch.cos(phi), rho * torch.sin(phi), z], dim=-1).reshape(-1, 3)
    weights = (z_weights[:, None] * (2.0 * math.pi / n_phi)).expand(n_z, n_phi).reshape(-1)
    return points, weights


def sphere_quadrature(
    degree: int, dtype: torch.dtype = torch.float64, device: Optional[torch.device] = None
) -> Tuple[Tensor, Tensor]:
    """Points and weights integrating polynomials of degree <= ``degree`` exactly on S^2.

    Args:
        degree: highest total polynomial degree to integrate exactly (>= 0).
        dtype, device: of the returned tensors (computed in float64, then cast).

    Returns:
        (points (n, 3) unit vectors, weights (n,) in steradians, summing to 4 pi), with
        n = (degree // 2 + 1) * (degree + 1).

    Example:
        >>> import math, torch
        >>> points, weights = sphere_quadrature(4)
        >>> round(float(weights.sum()) / (4 * math.pi), 12)
        1.0
        >>> round(float((weights * points[:, 2] ** 4).sum()) / (4 * math.pi), 12)  # <z^4> = 1/5
        0.2
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ValueError(f"sphere_quadrature: degree must be an int >= 0, got {degree!r}")
    points, weights = _sphere_quadrature_float64(degree)
    return (
        points.to(dtype=dtype, device=device, copy=True),
        weights.to(dtype=dtype, device=device, copy=True),
    )
