"""Cubic-spline radial tables: the op ``torch.ops.mlip.radial_spline`` and its module.

A table holds, for each of ``n`` uniform intervals of width h starting at r_min, the four
coefficients of a cubic Hermite interpolant f(t) = c0 + c1 t + c2 t² + c3 t³ (t in [0, 1)) of
M output columns: shape (n, 4, M). :func:`hermite_table` builds it from the knot values and
derivatives; :class:`TabulatedRadialMLP` evaluates it per edge (one pass over the table row of
each edge; the op's backward gives dg/dr for forces and stress, there is no second
derivative). Interpolation error ~ h^4 max|g''''| / 384.

Replacing a model's radial MLPs by such tables is
:func:`mlip.models.radial_tabulation.tabulate_radial`.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class TabulatedRadialMLP(nn.Module):
    """g(r) of one interaction block's radial MLP from a (n, 4, M) cubic table (``mlip::radial_spline``)."""

    def __init__(self, table: Tensor, r_min: float, interval: float):
        super().__init__()
        self.register_buffer("table", table.contiguous())
        self.r_min = float(r_min)
        self.inv_h = 1.0 / float(interval)

    def forward(self, r_column: Tensor) -> Tensor:
        return torch.ops.mlip.radial_spline(r_column[:, 0].contiguous(), self.table, self.r_min, self.inv_h)


def hermite_table(values: Tensor, slopes: Tensor, interval: float) -> Tensor:
    """(n + 1, M) knot values and d/dr -> (n, 4, M) coefficients of f(t), t in [0, 1)."""
    f0, f1 = values[:-1], values[1:]
    d0, d1 = interval * slopes[:-1], interval * slopes[1:]
    return torch.stack([f0, d0, 3.0 * (f1 - f0) - 2.0 * d0 - d1, 2.0 * (f0 - f1) + d0 + d1], dim=1)
