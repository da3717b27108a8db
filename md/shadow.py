"""Shadow Hamiltonian of velocity Verlet, from the trajectory alone (no extra force calls).

Velocity Verlet is symplectic, so its iterates lie (up to exponentially small terms) on the
exact flow of a modified ("shadow") Hamiltonian H̃ = H + h² H₂ + h⁴ H₄ + …. We estimate H̃
with the construction of Skeel & Hardy (SIAM J. Sci. Comput. 23, 2001) as used by Engle,
Skeel & Drees (J. Comput. Phys. 206, 2005), written out here in our own terms:

1. Homogenise: add a coordinate ξ ≡ 1 and its momentum η, with Ĥ = K(p) + ξ² U(c + (q−c)/ξ)
   for a fixed origin c. Ĥ is homogeneous of degree 2 in (q − c, ξ, p, η); velocity Verlet
   on the extended system reproduces the original iterates and kicks η with
   η̇ = g = (q − c)·∇U − 2U, i.e. η_{m+1} − η_m = (h/2)(g_m + g_{m+1}).
2. The shadow Hamiltonian of a degree-2 homogeneous system is homogeneous too, so by
   Euler's theorem and Hamilton's equations along the shadow flow
   H̃ = ½ (p·q̇ − (q − c)·ṗ − η̇)  (at ξ = 1).
3. Take the time derivatives by central differences of order 2k over the 2k+1 iterates
   around step n, f'(t_n) ≈ (1/h) Σ_j a_j (f_{n+j} − f_{n−j}), with the origin c = q_n:

       H̃_n = U_n + (1/2h) Σ_{j=1}^{k} a_j [ m v_n·(q_{n+j} − q_{n−j}) − Δη_j ]
       Δη_j = Σ_{m=n−j}^{n+j−1} (h/2)(g'_m + g'_{m+1}),   g'_m = −(q_m − q_n)·F_m − 2(U_m − U_n)

The error is O(h^{2k}) ("order" 2k), and for a quadratic potential H̃ is conserved exactly
(the construction is a bilinear form invariant under any linear symplectic map). Choosing
c = q_n and subtracting U_n keeps every term small, so no growing accumulator is needed:
the extra variable η only enters through its increments over the stencil, summed in float64.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import List, NamedTuple, Sequence

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

#: Supported orders of the estimate (stencil of order + 1 steps).
ORDERS = (2, 4, 6, 8)


class StencilPoint(NamedTuple):
    """One velocity-Verlet iterate: unwrapped positions Å, velocities Å/fs, forces eV/Å,
    potential energy (0-d) eV, and its step number."""

    positions: Tensor
    velocities: Tensor
    forces: Tensor
    potential_energy: Tensor
    step: int


def check_order(order: int) -> int:
    """Validate the order of the shadow estimate (2, 4, 6 or 8)."""
    if isinstance(order, bool) or order not in ORDERS:
        raise ConfigError(f"shadow order must be one of {ORDERS}, got {order!r}")
    return int(order)


def central_difference_weights(order: int) -> List[float]:
    """Weights a_1..a_k (k = order/2) with f'(0) ≈ (1/h) Σ a_j (f(jh) − f(−jh)), error O(h^order).

    Example:
        >>> central_difference_weights(4)
        [0.6666666666666666, -0.08333333333333333]
    """
    return list(_weights(check_order(order)))


@lru_cache(maxsize=None)
def _weights(order: int) -> tuple:
    k = order // 2
    # Σ_j a_j 2 j^(2i−1) = δ_{i1} for i = 1..k  (exact in rationals, Gauss–Jordan)
    rows = [[Fraction(2 * j ** (2 * i - 1)) for j in range(1, k + 1)] + [Fraction(int(i == 1))]
            for i in range(1, k + 1)]
    for col in range(k):
        pivot = next(r for r in range(col, k) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [x / rows[col][col] for x in rows[col]]
        for r in range(k):
            if r != col and rows[r][col] != 0:
                rows[r] = [x - rows[r][col] * y for x, y in zip(rows[r], rows[col])]
    return tuple(float(rows[j][k]) for j in range(k))


def shadow_energy_eV(points: Sequence[StencilPoint], masses_amu: Tensor, timestep_fs: float,
                     order: int) -> float:
    """H̃ (eV) at the centre of ``order + 1`` consecutive velocity-Verlet iterates.

    All arithmetic is float64 whatever the state's dtype (so float32 round-off in the
    trajectory shows up as noise or drift of H̃ rather than being hidden).
    """
    weights = _weights(check_order(order))
    k = len(weights)
    if len(points) != 2 * k + 1:
        raise ValueError(f"order {order} needs {2 * k + 1} consecutive steps, got {len(points)}")
    h = float(timestep_fs)
    centre = points[k]
    q_n = centre.positions.double()
    u_n = float(centre.potential_energy)
    momentum = masses_amu.double().unsqueeze(1) * centre.velocities.double()
    # g'_m for every point of the stencil, eV
    g = [float(-((p.positions.double() - q_n) * p.forces.double()).sum()) - 2.0 * (float(p.potential_energy) - u_n)
         for p in points]
    total = 0.0
    for j, a_j in enumerate(weights, start=1):
        dq = points[k + j].positions.double() - points[k - j].positions.double()
        kinetic_term = units.AMU_A2_PER_FS2_IN_EV * float((momentum * dq).sum())
        d_eta = sum(0.5 * h * (g[m] + g[m + 1]) for m in range(k - j, k + j))
        total += a_j * (kinetic_term - d_eta)
    return u_n + total / (2.0 * h)
