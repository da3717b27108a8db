"""Species embedding: atomic numbers Z -> internal species index -> scalar channels.

Atomic numbers (not internal indices) cross every public boundary; this module owns the
Z -> index map.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn


class SpeciesIndex(nn.Module):
    """Maps atomic numbers to 0..n_species-1 in the order of ``atomic_numbers``; -1 if unknown."""

    def __init__(self, atomic_numbers: List[int]):
        super().__init__()
        table = torch.full((119,), -1, dtype=torch.int64)
        for k, z in enumerate(atomic_numbers):
            table[int(z)] = k
        self.register_buffer("table", table)
        self.n_species = len(atomic_numbers)

    def forward(self, atomic_numbers: Tensor) -> Tensor:
        return self.table[atomic_numbers]


class SpeciesEmbedding(nn.Module):
    """Learned initial scalar features per species: (n_atoms,) index -> (n_atoms, channels)."""

    def __init__(self, n_species: int, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_species, channels))

    def forward(self, species: Tensor) -> Tensor:
        return self.weight[species]
