"""Per-atom energy readout: invariant scalars -> atomic energy (eV) with per-element scale and shift.

    e_i = scale[Z_i] · MLP(x_i^{l=0}) + shift[Z_i]

``shift`` holds per-element reference energies (eV, least squares on training data) and
``scale`` the force RMS (eV/Å · Å = eV) so the network works in O(1) units.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mlip.nn.gate import SILU_GAIN


class AtomicEnergyReadout(nn.Module):
    """(N, C) invariant features and species -> (N,) atomic energies, eV."""

    def __init__(self, n_species: int, channels: int, hidden: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(channels, hidden))
        self.w2 = nn.Parameter(torch.empty(hidden, 1))
        self.scale = nn.Parameter(torch.ones(n_species))
        self.shift = nn.Parameter(torch.zeros(n_species))
        self.silu_gain = SILU_GAIN

    def forward(self, scalars: Tensor, species: Tensor) -> Tensor:
        h = self.hidden(scalars)
        e = (h @ (self.w2 / math.sqrt(self.w2.shape[0]))).squeeze(1)
        return self.scale[species] * e + self.shift[species]

    def hidden(self, scalars: Tensor) -> Tensor:
        """(N, hidden) activations h_i that the last linear layer maps to the atomic energy,
        e_i = scale[Z_i] · h_i·w2/√hidden + shift[Z_i] (dimensionless; last-layer uncertainty,
        :mod:`mlip.uncertainty`, reads them)."""
        return torch.nn.functional.silu(scalars @ (self.w1 / math.sqrt(self.w1.shape[0]))) * self.silu_gain
