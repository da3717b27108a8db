"""Ewald summation of the (damped) Coulomb potential in one periodic, possibly triclinic cell.

With splitting parameter α (1/Å), cell rows a_d (Å), volume V, reciprocal vectors
k = n · 2π (h⁻¹)ᵀ and charges q (e), the potential at atom i (in e/Å; multiply by k_e) is

    φ_i = Σ'_{j,n} q_j [S(r) − erf(α r)] / r                    real space, r = |r_j − r_i + n h|
        + (8π / V) Σ_{k in half space, 0 < |k| < k_max} g(k) [cos(k·r_i) C(k) + sin(k·r_i) Sn(k)]
        − 2 α q_i / √π                                          self
        − π Q / (V α²)                                          neutralising background (Q = Σ q)

with g(k) = exp(−k²/4α²)/k², C(k) = Σ_j q_j cos(k·r_j), Sn(k) = Σ_j q_j sin(k·r_j), and S the
damping switch (S ≡ 1 without damping, when the real-space kernel is the usual erfc(α r)/r).
E = ½ Σ_i q_i φ_i; "tin-foil" boundary conditions (the Ewald convention).

Accuracy parameters from the requested relative tolerance δ (c = √(−ln δ)):

    r_real = max(real_space_cutoff, r_off),   α = c / r_real,   k_max = 2 c α

so both truncated tails are ~δ: erfc(α r_real) < e^{−c²} = δ and exp(−k_max²/4α²) = δ.

Real-space pairs (with all periodic images within r_real) and the k-vectors are *selected*
without gradients (integer topology), then evaluated with differentiable torch ops on the
(possibly strained) cell, so forces and stress come from autograd.

Unwrapped positions (MD) are exact: the energy is periodic in every position, so the atoms are
first moved into the cell by whole lattice vectors, r − n h with n a constant integer chosen
without gradients (:func:`wrap_positions`; forces and the stress by strain are unchanged). The
real-space images searched then cover what any pair within r_real can need, and the phases k·r
stay those of a compact cell, however far the atoms have drifted; the k-vectors depend on the
cell only.

Cost: real space is a brute force O(N² · images) selection (fine up to a few thousand atoms per
cell), reciprocal space O(N · N_k).
"""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import Tensor

from mlip.physics.switching import switch_on


def ewald_parameters(tolerance: float, real_space_cutoff: float, r_off: float) -> Tuple[float, float, float]:
    """(α in 1/Å, r_real in Å, k_max in 1/Å) for relative accuracy ``tolerance`` (see module doc)."""
    c = math.sqrt(-math.log(tolerance))
    r_real = max(real_space_cutoff, r_off)
    alpha = c / r_real
    return alpha, r_real, 2.0 * c * alpha


def _integer_grid(n_max: List[int], device: torch.device) -> Tensor:
    axes = [torch.arange(-m, m + 1, device=device) for m in n_max]
    g = torch.meshgrid(axes, indexing="ij")
    return torch.stack([g[0].reshape(-1), g[1].reshape(-1), g[2].reshape(-1)], dim=1)


def real_space_pairs(positions: Tensor, cell: Tensor, r_real: float) -> Tuple[Tensor, Tensor, Tensor]:
    """Integer topology (i, j, image shift (n_pairs, 3) int64) of all pairs closer than ``r_real``
    over all periodic images, excluding each atom with itself in the home image.

    Correct wherever the atoms sit (unwrapped positions included): along lattice vector d, with
    plane spacing h_d and fractional coordinates f, a pair closer than r_real has
    |f_j − f_i + n_d| < r_real / h_d, so the images searched are |n_d| < r_real / h_d + the spread
    of the atoms' f_d. Pass wrapped positions (:func:`wrap_positions`) to keep that spread <= 1."""
    with torch.no_grad():
        pos = positions.detach()
        h = cell.detach()
        inv = torch.linalg.inv(h)
        heights = 1.0 / torch.linalg.norm(inv, dim=0)
        frac = pos @ inv
        if pos.shape[0] > 0:
            spread = frac.max(dim=0).values - frac.min(dim=0).values
        else:
            spread = torch.zeros(3, dtype=pos.dtype, device=pos.device)
        # the largest |n| with |n| < r_real / h + spread (a hair of margin against round-off)
        n_max = [max(0, int(torch.ceil(r_real / heights[d] + spread[d] + 1e-9)) - 1) for d in range(3)]
        shifts = _integer_grid(n_max, pos.device)
        offsets = shifts.to(pos.dtype) @ h
        home = (shifts == 0).all(dim=1)
        n = pos.shape[0]
        n_img = shifts.shape[0]
        chunk = max(1, 4_000_000 // max(1, n * n_img))
        offsets_sq = (offsets * offsets).sum(dim=1)
        ii: List[Tensor] = [torch.zeros(0, dtype=torch.int64, device=pos.device)]
        jj: List[Tensor] = [torch.zeros(0, dtype=torch.int64, device=pos.device)]
        ss: List[Tensor] = [torch.zeros((0, 3), dtype=torch.int64, device=pos.device)]
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            d = pos.unsqueeze(0) - pos[lo:hi].unsqueeze(1)  # (c, n, 3): r_j - r_i
            # |d + o|^2 = |d|^2 + 2 d.o + |o|^2 without materialising (c, n, images, 3)
            r2 = (d * d).sum(dim=2).unsqueeze(2) + 2.0 * (d @ offsets.transpose(0, 1)) + offsets_sq
            mask = r2 < r_real * r_real
            rows = torch.arange(lo, hi, device=pos.device)
            mask[rows - lo, rows] = mask[rows - lo, rows] & ~home.unsqueeze(0)
            nz = torch.nonzero(mask)
            ii.append(nz[:, 0] + lo)
            jj.append(nz[:, 1])
            ss.append(shifts[nz[:, 2]])
        return torch.cat(ii), torch.cat(jj), torch.cat(ss, dim=0)


def wrap_positions(positions: Tensor, cell: Tensor) -> Tensor:
    """``positions − n @ cell`` with n = floor(fractional coordinates): the same atoms moved by
    whole lattice vectors into the cell (fractional coordinates in [0, 1), up to round-off).

    n is an integer constant chosen without gradients, so derivatives through the result are
    those of the positions and the cell themselves: forces are unchanged, and a strain applied
    to both (r → r (1 + ε), h → h (1 + ε)) strains the wrapped positions alike, so the stress
    is unchanged too. Non-finite coordinates are left as they are."""
    with torch.no_grad():
        frac = positions.detach() @ torch.linalg.inv(cell.detach())
        n = torch.floor(frac)
        n = torch.where(torch.isfinite(n), n, torch.zeros_like(n))
    return positions - n @ cell


def reciprocal_vectors(cell: Tensor, k_max: float) -> Tensor:
    """Integer vectors n (n_k, 3) of the half space with 0 < |n · 2π h⁻ᵀ| < k_max."""
    with torch.no_grad():
        h = cell.detach()
        lengths = torch.linalg.norm(h, dim=1)
        n_max = [int(torch.ceil(k_max * lengths[d] / (2.0 * math.pi))) for d in range(3)]
        n = _integer_grid(n_max, h.device)
        half = (n[:, 0] > 0) | ((n[:, 0] == 0) & (n[:, 1] > 0)) | ((n[:, 0] == 0) & (n[:, 1] == 0) & (n[:, 2] > 0))
        n = n[half]
        k = n.to(h.dtype) @ (2.0 * math.pi * torch.linalg.inv(h).transpose(0, 1))
        return n[(k * k).sum(dim=1) < k_max * k_max]


def reciprocal_wavevectors(cell: Tensor, k_max: float) -> Tensor:
    """Wave vectors k (n_k, 3), 1/Å, of :func:`reciprocal_vectors`, differentiable in the cell."""
    n = reciprocal_vectors(cell, k_max)
    return n.to(cell.dtype) @ (2.0 * math.pi * torch.linalg.inv(cell).transpose(0, 1))


def real_space_kernel(r: Tensor, alpha: float, r_on: float, r_off: float) -> Tensor:
    """The real-space Ewald kernel in 1/Å: ``[S(r) − erf(α r)] / r`` with the damping switch,
    ``erfc(α r) / r`` without (``r_off <= 0``)."""
    if r_off > 0.0:
        return (switch_on(r, r_on, r_off) - torch.erf(alpha * r)) / r
    return torch.erfc(alpha * r) / r


def ewald_potential(
    positions: Tensor, charges: Tensor, cell: Tensor, r_on: float, r_off: float, tolerance: float, real_space_cutoff: float
) -> Tensor:
    """φ (n_atoms,) in e/Å of one periodic cell (see module docstring; multiply by k_e for V).

    Args:
        positions: (n_atoms, 3) Å; charges: (n_atoms,) e; cell: (3, 3) rows lattice vectors, Å.
        r_on, r_off: damping switch radii, Å (``r_off <= 0``: no damping).
        tolerance: relative accuracy δ; real_space_cutoff: requested r_real, Å.
    """
    alpha, r_real, k_max = ewald_parameters(tolerance, real_space_cutoff, r_off)
    dtype = positions.dtype
    # the energy is periodic in every position: evaluate it on the atoms moved into the cell,
    # so the real-space images searched and the phases k·r stay those of a compact cell
    # however far atoms have drifted (MD keeps positions unwrapped)
    positions = wrap_positions(positions, cell)
    # real space
    i, j, shift = real_space_pairs(positions, cell, r_real)
    vec = positions[j] - positions[i] + shift.to(dtype) @ cell
    r = torch.linalg.norm(vec, dim=1)
    phi = torch.zeros_like(charges).index_add(0, i, charges[j] * real_space_kernel(r, alpha, r_on, r_off))
    # reciprocal space
    volume = torch.abs(torch.linalg.det(cell))
    k = reciprocal_wavevectors(cell, k_max)
    if k.shape[0] > 0:
        k2 = (k * k).sum(dim=1)
        g = torch.exp(-k2 / (4.0 * alpha * alpha)) / k2
        kr = positions @ k.transpose(0, 1)  # (n_atoms, n_k)
        cos_kr = torch.cos(kr)
        sin_kr = torch.sin(kr)
        c = charges @ cos_kr
        s = charges @ sin_kr
        phi = phi + (8.0 * math.pi / volume) * (cos_kr @ (g * c) + sin_kr @ (g * s))
    # self and neutralising background
    phi = phi - (2.0 * alpha / math.sqrt(math.pi)) * charges
    phi = phi - math.pi * charges.sum() / (volume * alpha * alpha)
    return phi
