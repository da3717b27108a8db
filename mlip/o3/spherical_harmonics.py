"""Real spherical harmonics by Cartesian polynomial recursion (no trigonometry).

Convention
----------
Standard real spherical harmonics (the "Wikipedia table" convention, no Condon-Shortley
phase in the real functions), ordered l-major and then m = -l, ..., l inside each l:

    Y_lm = N_lm * Q_l^|m|(z) * c_m(x, y)      m > 0   (cos-like, c_m = Re (x + i y)^m)
    Y_l0 = N_l0 * Q_l^0(z)
    Y_lm = N_lm * Q_l^|m|(z) * s_|m|(x, y)    m < 0   (sin-like, s_m = Im (x + i y)^m)

where Q_l^m = d^m P_l / dz^m is the m-th derivative of the Legendre polynomial (so that
P_l^m = (1 - z^2)^(m/2) Q_l^m is the associated Legendre function *without* the
Condon-Shortley phase) and

    N_lm = sqrt((2l + 1) * (2 - delta_m0) * (l - |m|)! / (l + |m|)!).

This is "component" normalisation: Y_00 = 1 and, for a unit vector, sum_m Y_lm^2 = 2l + 1
(equivalently the sphere average of Y_lm^2 is 1). It is sqrt(4 pi) times the orthonormal
real harmonics.

For l = 1 the components are ``(Y_1,-1, Y_1,0, Y_1,1) = sqrt(3) * (y, z, x) / r``: the
l = 1 block is a *permutation* (y, z, x) of the Cartesian vector, not (x, y, z). For l = 2,
``Y_2 = sqrt(15) * (x y, y z, (3 z^2 - r^2) / (2 sqrt 3), x z, (x^2 - y^2) / 2) / r^2``.

Parity: Y_l(-v) = (-1)^l Y_l(v). Rotations: Y_l(R v) = D^l(R) Y_l(v) with D^l from
:func:`mlip.o3.wigner_D`.

With ``normalize=False`` the function returns the solid harmonics r^l Y_lm(v / r): homogeneous
polynomials of degree l in the raw components (units: length^l of the input).

Recursion (homogeneous in r^2 = x^2 + y^2 + z^2, so the same code serves both modes):

    Q_m^m     = (2m - 1)!!
    Q_{m+1}^m = (2m + 1) z Q_m^m
    Q_l^m     = ((2l - 1) z Q_{l-1}^m - (l + m - 1) r^2 Q_{l-2}^m) / (l - m)
    c_{m+1} + i s_{m+1} = (x + i y) (c_m + i s_m)

Any l_max >= 0 works; float64 is exact to ~1e-14 for l <= 10, float32 to ~1e-6 for l <= 6.
"""
import math
from typing import List

import torch
from torch import Tensor

__all__ = ["SphericalHarmonics", "spherical_harmonics"]


def _normalisation(l: int, m: int) -> float:
    """N_lm for m >= 0 (component normalisation), computed without overflow-prone factorials."""
    ratio = 1.0  # (l + m)! / (l - m)!
    for k in range(l - m + 1, l + m + 1):
        ratio *= float(k)
    weight = 1.0 if m == 0 else 2.0
    return math.sqrt((2.0 * l + 1.0) * weight / ratio)


def _double_factorial_odd(m: int) -> float:
    """(2m - 1)!! = 1 * 3 * ... * (2m - 1), with (-1)!! = 1."""
    value = 1.0
    for k in range(1, 2 * m, 2):
        value *= float(k)
    return value


def spherical_harmonics(l_max: int, vectors: Tensor, normalize: bool = True) -> Tensor:
    """Real spherical harmonics Y_lm of ``vectors`` for all l = 0..l_max.

    Args:
        l_max: highest degree (>= 0).
        vectors: (..., 3) float tensor (any unit, e.g. edge vectors in Å).
        normalize: if True, evaluate on the unit vector v / |v| (dimensionless output). A
            zero vector then gives Y_00 = 1 and zeros for l >= 1, with finite gradients (no
            NaN). If False, return the solid harmonics |v|^l Y_lm(v / |v|) (units length^l).

    Returns:
        (..., (l_max + 1)**2) tensor, same dtype/device as ``vectors``; column l*l + l + m holds
        Y_lm, m = -l..l (convention in the module docstring; l = 1 is sqrt(3) (y, z, x)).

    The function is TorchScript-scriptable and smooth (twice differentiable) away from the
    origin when ``normalize=True`` and everywhere when ``normalize=False``.

    Example:
        >>> import torch
        >>> y = spherical_harmonics(2, torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64))
        >>> y.shape
        torch.Size([1, 9])
        >>> [round(v, 4) for v in y[0, :4].tolist()]  # Y_00, then sqrt(3) * (y, z, x)
        [1.0, 0.0, 1.7321, 0.0]
        >>> round(float((y[0, 4:9] ** 2).sum()), 10)  # component normalisation: 2l + 1
        5.0
    """
    if l_max < 0:
        raise ValueError(f"spherical_harmonics: l_max must be >= 0, got {l_max}")
    if vectors.dim() == 0 or vectors.size(-1) != 3:
        raise ValueError(
            f"spherical_harmonics: vectors must have shape (..., 3), got {list(vectors.shape)}"
        )
    if not vectors.is_floating_point():
        raise ValueError(
            f"spherical_harmonics: vectors must be floating point, got {vectors.dtype}"
        )

    x = vectors[..., 0]
    y = vectors[..., 1]
    z = vectors[..., 2]
    if normalize:
        r2_raw = x * x + y * y + z * z
        # where-trick: rsqrt never sees 0, so zero vectors give finite values and gradients.
        inv_r = torch.rsqrt(torch.where(r2_raw > 0, r2_raw, torch.ones_like(r2_raw)))
        x = x * inv_r
        y = y * inv_r
        z = z * inv_r
    r2 = x * x + y * y + z * z
    one = torch.ones_like(x)

    # c[m] + i s[m] = (x + i y)^m
    cos_part: List[Tensor] = [one]
    sin_part: List[Tensor] = [torch.zeros_like(x)]
    for m in range(1, l_max + 1):
        cos_part.append(x * cos_part[m - 1] - y * sin_part[m - 1])
        sin_part.append(x * sin_part[m - 1] + y * cos_part[m - 1])

    components: List[Tensor] = []
    q_prev: List[Tensor] = []  # Q_{l-1}^m, m = 0..l-1
    q_prev2: List[Tensor] = []  # Q_{l-2}^m, m = 0..l-2
    for l in range(l_max + 1):
        q_cur: List[Tensor] = []
        for m in range(l + 1):
            if m == l:
                q = one * _double_factorial_odd(m)
            elif m == l - 1:
                q = (2.0 * l - 1.0) * z * q_prev[m]
            else:
                q = ((2.0 * l - 1.0) * z * q_prev[m] - (l + m - 1.0) * r2 * q_prev2[m]) / (l - m)
            q_cur.append(q)
        for m in range(l, 0, -1):  # m = -l..-1
            components.append(_normalisation(l, m) * q_cur[m] * sin_part[m])
        components.append(_normalisation(l, 0) * q_cur[0])
        for m in range(1, l + 1):
            components.append(_normalisation(l, m) * q_cur[m] * cos_part[m])
        q_prev2 = q_prev
        q_prev = q_cur
    return torch.stack(components, dim=-1)


class SphericalHarmonics(torch.nn.Module):
    """Module wrapper of :func:`spherical_harmonics` with a fixed ``l_max`` (scriptable).

    Example:
        >>> import torch
        >>> sh = torch.jit.script(SphericalHarmonics(3))
        >>> sh(torch.randn(5, 3)).shape
        torch.Size([5, 16])
    """

    l_max: int
    normalize: bool
    dim: int

    def __init__(self, l_max: int, normalize: bool = True) -> None:
        super().__init__()
        if l_max < 0:
            raise ValueError(f"SphericalHarmonics: l_max must be >= 0, got {l_max}")
        self.l_max = int(l_max)
        self.normalize = bool(normalize)
        self.dim = (self.l_max + 1) * (self.l_max + 1)  # output width

    def forward(self, vectors: Tensor) -> Tensor:
        """(..., 3) vectors -> (..., (l_max + 1)**2) harmonics."""
        return spherical_harmonics(self.l_max, vectors, self.normalize)

    def extra_repr(self) -> str:
        return f"l_max={self.l_max}, normalize={self.normalize}"
