"""Lennard-Jones pair potential with Lorentz–Berthelot mixing and a smooth switch-off.

    V(r) = 4 ε_ij [(σ_ij / r)^12 − (σ_ij / r)^6] · (1 − S(r; r_on, r_c))
    ε_ij = √(ε_i ε_j),  σ_ij = (σ_i + σ_j) / 2          (unless a pair is given explicitly)

ε in eV, σ, r_on, r_c in Å. S is the C² switch of :mod:`mlip.physics.switching`, so energy,
forces and their derivatives are continuous at the cutoff (no shift needed). Per-atom energy
e_i = ½ Σ_j V(r_ij) over the full edge list.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mlip.physics.switching import switch_off
from mlip.types import Edges, System, edge_vectors


class LennardJones(nn.Module):
    """LJ term ``forward(system, edges) -> (n_atoms,)`` eV for the elements ``atomic_numbers``.

    Args:
        atomic_numbers: elements, in order.
        epsilon, sigma: per-element ε_i (eV) and σ_i (Å), same order.
        cutoff: r_c, Å. switch_on: r_on < r_c, Å (default 0.8 r_c).
        pairs: explicit ``{(Z_a, Z_b): (ε, σ)}`` overriding the mixing rule.
    """

    def __init__(
        self,
        atomic_numbers: Sequence[int],
        epsilon: Sequence[float],
        sigma: Sequence[float],
        cutoff: float,
        switch_on: Optional[float] = None,
        pairs: Optional[Dict[Tuple[int, int], Tuple[float, float]]] = None,
    ):
        super().__init__()
        zs = [int(z) for z in atomic_numbers]
        n = len(zs)
        eps = torch.zeros(n, n, dtype=torch.float64)
        sig = torch.ones(n, n, dtype=torch.float64)
        for a in range(n):
            for b in range(n):
                eps[a, b] = (float(epsilon[a]) * float(epsilon[b])) ** 0.5
                sig[a, b] = 0.5 * (float(sigma[a]) + float(sigma[b]))
        for (za, zb), (e, s) in (pairs or {}).items():
            a, b = zs.index(int(za)), zs.index(int(zb))
            eps[a, b] = eps[b, a] = float(e)
            sig[a, b] = sig[b, a] = float(s)
        table = torch.full((119,), 0, dtype=torch.int64)
        for k, z in enumerate(zs):
            table[z] = k
        self.register_buffer("epsilon", eps, persistent=False)
        self.register_buffer("sigma", sig, persistent=False)
        self.register_buffer("table", table, persistent=False)
        self.cutoff = float(cutoff)
        self.r_on = float(0.8 * cutoff if switch_on is None else switch_on)

    def forward(self, system: System, edges: Edges) -> Tensor:
        i, j = edges.index[0], edges.index[1]
        r = torch.linalg.norm(edge_vectors(system, edges), dim=1)
        a = self.table[system.atomic_numbers[i]]
        b = self.table[system.atomic_numbers[j]]
        eps = self.epsilon.to(r.dtype)[a, b]
        sig = self.sigma.to(r.dtype)[a, b]
        inside = r < self.cutoff
        r_safe = torch.where(inside, r, torch.full_like(r, self.cutoff))
        x6 = (sig / r_safe).pow(6)
        pair = 4.0 * eps * (x6 * x6 - x6) * switch_off(r_safe, self.r_on, self.cutoff)
        pair = torch.where(inside, pair, torch.zeros_like(pair))
        return torch.zeros_like(system.positions[:, 0]).index_add(0, i, 0.5 * pair)
