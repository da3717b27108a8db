"""Radial basis of edge lengths: Bessel functions times a smooth polynomial cutoff envelope,
and the radial MLP that turns them into per-edge tensor-product weights.

Equations (r in Å, r_c the cutoff):

    B_n(r) = sqrt(2 / r_c) · sin(n π r / r_c) / r,          n = 1..n_basis
    u(x)   = 1 − (p+1)(p+2)/2 · x^p + p(p+2) · x^(p+1) − p(p+1)/2 · x^(p+2),  x = r / r_c < 1
    w(r)   = MLP(B(r) · u(r / r_c)) · u(r / r_c)

u and its first p−1... derivatives vanish at r_c (u(1) = u'(1) = u''(1) = 0), so energies and
forces go smoothly to zero at the cutoff. The MLP has no biases and SiLU activations.
"""
from __future__ import annotations

import math
from typing import List

import torch
from torch import Tensor, nn


class BesselBasis(nn.Module):
    """``B_n(r)`` for n = 1..n_basis (see module docstring); r in Å, output 1/Å."""

    def __init__(self, cutoff: float, n_basis: int = 8):
        super().__init__()
        self.cutoff = float(cutoff)
        self.prefactor = math.sqrt(2.0 / cutoff)
        self.register_buffer("frequencies", torch.arange(1, n_basis + 1, dtype=torch.float64) * math.pi / cutoff)

    def forward(self, r: Tensor) -> Tensor:
        """(n_edges,) lengths Å -> (n_edges, n_basis)."""
        return self.prefactor * torch.sin(r[:, None] * self.frequencies) / r[:, None]


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff envelope ``u(r / r_c)`` of exponent p (NequIP/DimeNet form); 0 for r >= r_c."""

    def __init__(self, cutoff: float, exponent: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(exponent)

    def forward(self, r: Tensor) -> Tensor:
        """(n_edges,) lengths Å -> (n_edges,) dimensionless in [0, 1]."""
        p = self.p
        x = r / self.cutoff
        u = (
            1.0
            - 0.5 * (p + 1.0) * (p + 2.0) * x.pow(p)
            + p * (p + 2.0) * x.pow(p + 1.0)
            - 0.5 * p * (p + 1.0) * x.pow(p + 2.0)
        )
        return torch.where(x < 1.0, u, torch.zeros_like(u))


class RadialMLP(nn.Module):
    """Bias-free MLP with SiLU: ``n_in -> hidden x n_hidden_layers -> n_out``.

    Weights are N(0, 1) and each layer divides by sqrt(fan_in) (e3nn-style normalisation), so
    initialisation needs no global RNG and outputs stay O(1).
    """

    def __init__(self, n_in: int, n_out: int, hidden: int = 64, n_hidden_layers: int = 2):
        super().__init__()
        sizes = [n_in] + [hidden] * n_hidden_layers + [n_out]
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(a, b)) for a, b in zip(sizes[:-1], sizes[1:])])
        self.n_layers = len(sizes) - 1
        # SiLU has second moment ~0.355 for unit-normal input: rescale to keep variance.
        self.act_gain = 1.0 / math.sqrt(0.3550)

    def forward(self, x: Tensor) -> Tensor:
        k = 0
        for w in self.weights:
            x = x @ (w / math.sqrt(w.shape[0]))
            k += 1
            if k < self.n_layers:
                x = torch.nn.functional.silu(x) * self.act_gain
        return x
