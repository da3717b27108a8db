"""ZBL universal screened nuclear repulsion (Ziegler, Biersack, Littmark 1985), smoothly cut off.

For a pair of atomic numbers Z_i, Z_j at distance r (Å):

    V(r) = k_e Z_i Z_j / r · φ(r / a) · u(r / r_max)
    a    = 0.46850 Å / (Z_i^0.23 + Z_j^0.23)                       (0.8854 a_0 screening length)
    φ(x) = 0.18175 e^{−3.19980 x} + 0.50986 e^{−0.94229 x} + 0.28022 e^{−0.40290 x} + 0.02817 e^{−0.20162 x}

u is the polynomial envelope of :mod:`mlip.nn.radial` (exponent p; u(1) = u'(1) = u''(1) = 0),
so energy and forces vanish smoothly at r_max. r_max is a fixed ``cutoff`` (Å) or, by default,
the sum of the two covalent radii (ASE's table): the repulsion then acts only on close contacts,
well inside chemical bonds' equilibrium lengths, and keeps them repulsive where a network
trained on equilibrium data knows nothing. Per-atom energy: e_i = ½ Σ_j V(r_ij) over the
(full) edge list.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from mlip.types import Edges, System, edge_vectors

_ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
_ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)
#: ZBL screening length numerator 0.8854 a_0, Å.
ZBL_A0_A = 0.46850


def _covalent_radii() -> List[float]:
    from ase.data import covalent_radii

    return [float(r) for r in covalent_radii[:119]]


class ZBL(nn.Module):
    """ZBL repulsion term: ``forward(system, edges) -> (n_atoms,)`` eV.

    Args:
        atomic_numbers: elements the potential knows (sets ``cutoff`` = largest pair r_max).
        cutoff: fixed r_max in Å for every pair, or None for covalent-radius sums.
        exponent: p of the envelope (>= 2).
    """

    def __init__(self, atomic_numbers: Sequence[int], cutoff: Optional[float] = None, exponent: int = 6):
        super().__init__()
        radii = torch.tensor(_covalent_radii(), dtype=torch.float64)
        self.fixed_cutoff = -1.0 if cutoff is None else float(cutoff)
        self.p = float(exponent)
        self.register_buffer("radii", radii, persistent=False)
        zs = [int(z) for z in atomic_numbers]
        self.cutoff = float(cutoff) if cutoff is not None else max(float(radii[a] + radii[b]) for a in zs for b in zs)

    def forward(self, system: System, edges: Edges) -> Tensor:
        i, j = edges.index[0], edges.index[1]
        r = torch.linalg.norm(edge_vectors(system, edges), dim=1)
        z = system.atomic_numbers
        zi = z[i].to(r.dtype)
        zj = z[j].to(r.dtype)
        if self.fixed_cutoff > 0.0:
            r_max = torch.full_like(r, self.fixed_cutoff)
        else:
            radii = self.radii.to(r.dtype)
            r_max = radii[z[i]] + radii[z[j]]
        inside = r < r_max
        r_safe = torch.where(inside, r, r_max)  # no work (and no NaN) beyond the cutoff
        # literals (TorchScript cannot close over module globals): ZBL_A0_A, _ZBL_C, _ZBL_D
        x = r_safe * (torch.pow(zi, 0.23) + torch.pow(zj, 0.23)) / 0.46850
        phi = (0.18175 * torch.exp(-3.19980 * x) + 0.50986 * torch.exp(-0.94229 * x)
               + 0.28022 * torch.exp(-0.40290 * x) + 0.02817 * torch.exp(-0.20162 * x))
        p = self.p
        y = r_safe / r_max
        u = 1.0 - 0.5 * (p + 1.0) * (p + 2.0) * y.pow(p) + p * (p + 2.0) * y.pow(p + 1.0) - 0.5 * p * (p + 1.0) * y.pow(p + 2.0)
        pair = torch.where(inside, 14.399645351950548 * zi * zj / r_safe * phi * u, torch.zeros_like(r))
        return torch.zeros_like(system.positions[:, 0]).index_add(0, i, 0.5 * pair)
