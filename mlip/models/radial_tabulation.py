"""Radial tabulation for inference: a model's radial MLPs as cubic splines of the edge length.

The radial MLP of every interaction block depends on the distance r only, so for MD it can be
replaced by a table: on a uniform grid of ``n_intervals`` intervals over [r_min, r_cut] the
exact values g(r) and derivatives g'(r) (forward-mode autograd, float64) define a cubic
Hermite interpolant per interval, evaluated by the native op ``mlip::radial_spline``
(:mod:`mlip.ops.radial_spline`: one pass over the table row of each edge instead of the MLP's
matrix products; the backward gives dg/dr for forces and stress). Interpolation error
~ h^4 max|g''''| / 384 with h the interval width; :func:`radial_tabulation_error` measures it
(docs/kernels.md lists the figures).

Inference only: the tabulated potential has first derivatives (energies, forces, stress), not
second ones (training on forces, Hessians) — those raise — and its state_dict differs from the
original (save the original potential, tabulate after loading).

Example:
    >>> import mlip
    >>> from mlip.models.radial_tabulation import tabulate_radial
    >>> pot = mlip.build_potential(mlip.ModelConfig(elements=("Cu",), cutoff=4.0, channels=4, n_layers=2))
    >>> fast = tabulate_radial(pot)          # doctest: +SKIP
"""
from __future__ import annotations

import copy
from typing import Dict, List

import torch
from torch import Tensor, nn

from mlip.models.equivariant import EquivariantModel
from mlip.ops import require
from mlip.ops.radial_spline import TabulatedRadialMLP, hermite_table


class RadiusAsBasis(nn.Module):
    """Stands in for the radial basis of a tabulated model: passes r on, as an (E, 1) column."""

    def forward(self, r: Tensor) -> Tensor:
        return r.unsqueeze(1)


def _equivariant_models(module: nn.Module) -> List[nn.Module]:
    return [m for m in module.modules() if isinstance(m, EquivariantModel)]


def _exact_radial(model: nn.Module, layer: nn.Module):
    # float64 on the CPU whatever the model's device: the same table everywhere
    basis = copy.deepcopy(model.radial_basis).double().cpu()
    radial = copy.deepcopy(layer.radial).double().cpu()
    return lambda r: radial(basis(r))


@torch.no_grad()
def _knots(fn, r: Tensor):
    with torch.enable_grad():
        values, slopes = torch.func.jvp(fn, (r,), (torch.ones_like(r),))
    return values.detach(), slopes.detach()


def tabulate_radial(potential: nn.Module, n_intervals: int = 1024, r_min: float = 0.1) -> nn.Module:
    """A copy of ``potential`` whose radial MLPs are cubic-spline tables (see module docstring).

    Args:
        potential: a :class:`mlip.Potential` (or any module containing EquivariantModels).
        n_intervals: grid intervals over [r_min, cutoff] (the error falls as n^-4).
        r_min: start of the grid, Å; shorter edges use the first interval's cubic.

    Raises:
        BackendUnavailableError: the native op library is not built.
    """
    require()
    if n_intervals < 1 or not (0.0 <= r_min):
        raise ValueError(f"tabulate_radial: need n_intervals >= 1 and r_min >= 0, got {n_intervals}, {r_min}")
    out = copy.deepcopy(potential)
    for model in _equivariant_models(out):
        if isinstance(model.radial_basis, RadiusAsBasis):
            continue  # already tabulated
        cutoff = float(model.cutoff)
        if not r_min < cutoff:
            raise ValueError(f"tabulate_radial: r_min {r_min} must be below the cutoff {cutoff}")
        interval = (cutoff - r_min) / n_intervals
        r = r_min + interval * torch.arange(n_intervals + 1, dtype=torch.float64)
        for layer in model.layers:
            ref = layer.radial.weights[0]
            values, slopes = _knots(_exact_radial(model, layer), r)
            table = hermite_table(values, slopes, interval).to(device=ref.device, dtype=ref.dtype)
            layer.radial = TabulatedRadialMLP(table, r_min, interval)
        model.radial_basis = RadiusAsBasis()
    if hasattr(out, "info") and isinstance(out.info, dict):
        out.info = dict(out.info, radial_tabulated={"n_intervals": n_intervals, "r_min_A": r_min})
    return out


@torch.no_grad()
def radial_tabulation_error(potential: nn.Module, tabulated: nn.Module, n_samples: int = 20000,
                            r_min: float = 0.1, seed: int = 0) -> List[Dict[str, float]]:
    """Per interaction block: max |g_table - g_exact| and its ratio to max |g_exact| over
    ``n_samples`` random r in [r_min, cutoff] (float64 evaluation of both)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for model, tab in zip(_equivariant_models(potential), _equivariant_models(tabulated)):
        cutoff = float(model.cutoff)
        r = r_min + (cutoff - r_min) * torch.rand(n_samples, generator=gen, dtype=torch.float64)
        for k, (layer, tlayer) in enumerate(zip(model.layers, tab.layers)):
            exact = _exact_radial(model, layer)(r)
            table = tlayer.radial.table.to(torch.float64).cpu()
            approx = torch.ops.mlip.radial_spline(r, table, tlayer.radial.r_min, tlayer.radial.inv_h)
            err = float((approx - exact).abs().max())
            scale = float(exact.abs().max())
            rows.append({"layer": k, "max_abs_error": err, "max_abs_value": scale, "relative": err / max(scale, 1e-300)})
    return rows
