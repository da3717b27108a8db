"""Equivariant linear maps on features laid out as (n_atoms, channels, (l_max+1)^2).

Channels of the same degree l are mixed by a learned (C_in, C_out) matrix per l; components
m are never mixed, so the map commutes with rotations (and parity: l keeps its parity).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def degree_of_component(l_max: int) -> Tensor:
    """(D,) int64: the degree l of each of the (l_max+1)^2 components."""
    return torch.cat([torch.full((2 * l + 1,), l, dtype=torch.int64) for l in range(l_max + 1)])


class EquivariantLinear(nn.Module):
    """Per-degree channel mixing: (N, C_in, (l_in+1)^2) -> (N, C_out, (l_out+1)^2).

    Degrees above ``l_in`` in the output are zero; degrees above ``l_out`` are dropped.
    """

    def __init__(self, c_in: int, c_out: int, l_max_in: int, l_max_out: int):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.l_common = min(l_max_in, l_max_out)
        self.d_common = (self.l_common + 1) ** 2
        self.d_out = (l_max_out + 1) ** 2
        self.weight = nn.Parameter(torch.empty(self.l_common + 1, c_in, c_out))
        self.register_buffer("component_degree", degree_of_component(self.l_common))

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight[self.component_degree] / math.sqrt(self.c_in)  # (D, C_in, C_out)
        y = torch.bmm(x[:, :, : self.d_common].permute(2, 0, 1), w).permute(1, 2, 0)  # (N, C_out, D)
        if self.d_out > self.d_common:
            y = torch.nn.functional.pad(y, (0, self.d_out - self.d_common))
        return y


class SpeciesLinear(nn.Module):
    """Self-connection: an :class:`EquivariantLinear` whose weights depend on the species of
    the atom (NequIP's tensor product with the one-hot species)."""

    def __init__(self, n_species: int, c_in: int, c_out: int, l_max_in: int, l_max_out: int):
        super().__init__()
        self.n_species = n_species
        self.c_in, self.c_out = c_in, c_out
        self.l_common = min(l_max_in, l_max_out)
        self.d_common = (self.l_common + 1) ** 2
        self.d_out = (l_max_out + 1) ** 2
        self.weight = nn.Parameter(torch.empty(n_species, self.l_common + 1, c_in, c_out))
        self.register_buffer("component_degree", degree_of_component(self.l_common))

    def forward(self, x: Tensor, species: Tensor) -> Tensor:
        n = x.shape[0]
        out = torch.zeros((n, self.c_out, self.d_out), dtype=x.dtype, device=x.device)
        xc = x[:, :, : self.d_common]
        for s in range(self.n_species):
            idx = torch.nonzero(species == s).squeeze(1)
            w = self.weight[s][self.component_degree] / math.sqrt(self.c_in)  # (D, C_in, C_out)
            ys = torch.bmm(xc.index_select(0, idx).permute(2, 0, 1), w).permute(1, 2, 0)
            out[:, :, : self.d_common] = out[:, :, : self.d_common].index_copy(0, idx, ys)
        return out
