"""Charge head: invariant per-atom features -> partial charges (e) with exact total charge.

    q̃_i = scale[Z_i] · MLP(x_i) + shift[Z_i]                 raw charges
    q_i  = q̃_i + (Q_s − Σ_{j in s} q̃_j) / n_s                 excess spread evenly over system s

so Σ_{i in s} q_i = Q_s (the stated total charge, default 0) to rounding, whatever the
weights. ``shift`` starts at 0 and ``scale`` small, so an untrained model carries small charges.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

#: Initial per-element scale of the raw charges, e.
INITIAL_CHARGE_SCALE = 0.1


def conserve_total_charge(raw: Tensor, system_index: Tensor, total_charge: Tensor) -> Tensor:
    """Shift ``raw`` (n_atoms,) e evenly within each system so it sums to ``total_charge`` (n_systems,)."""
    n_sys = total_charge.shape[0]
    counts = torch.bincount(system_index, minlength=n_sys).to(raw.dtype)
    current = torch.zeros(n_sys, dtype=raw.dtype, device=raw.device).index_add(0, system_index, raw)
    excess = (total_charge - current) / torch.clamp(counts, min=1.0)
    return raw + excess[system_index]


class ChargeHead(nn.Module):
    """(n_atoms, channels) invariant scalars -> (n_atoms,) charges in e, total charge exact."""

    def __init__(self, n_species: int, channels: int, hidden: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(channels, hidden))
        self.w2 = nn.Parameter(torch.empty(hidden, 1))
        self.scale = nn.Parameter(torch.full((n_species,), INITIAL_CHARGE_SCALE))
        self.shift = nn.Parameter(torch.zeros(n_species))

    def forward(self, scalars: Tensor, species: Tensor, system_index: Tensor, total_charge: Tensor) -> Tensor:
        return conserve_total_charge(self.raw_charges(scalars, species), system_index, total_charge)

    @torch.jit.export
    def raw_charges(self, scalars: Tensor, species: Tensor) -> Tensor:
        """q̃ (n_atoms,) e before the total charge is imposed (see the module docstring)."""
        h = torch.nn.functional.silu(scalars @ (self.w1 / math.sqrt(self.w1.shape[0])))
        raw = (h @ (self.w2 / math.sqrt(self.w2.shape[0]))).squeeze(1)
        return self.scale[species] * raw + self.shift[species]
