"""Stress of a structure under an applied strain, and its strain derivatives, by autograd.

An applied symmetric strain ε (Voigt 6-vector of *tensor* components: xx, yy, zz, yz, xz, xy)
deforms the structure homogeneously, r → r (1 + ε), h → h (1 + ε); the potential's one autograd
wrapper gives the Cauchy stress σ(ε) (eV/Å³, ASE sign: positive under tension) of the strained
structure with its graph kept, so that

    dσ_ij/dε_k  at ε = 0                        (eV/Å³)

comes from one more backward pass per stress combination, itself differentiable with respect
to the weights (``differentiable=True``). Ions are clamped: atoms follow the homogeneous strain
and do not relax (for a cell whose atoms are all inversion centres, e.g. a one-atom fcc or bcc
cell, clamped-ion and relaxed-ion constants are the same).

Elastic constants in Voigt notation with engineering shear strain γ = 2ε:
C_ij = dσ_i/dε_j for i, j ≤ 3 and C_44 = dσ_yz/dγ_yz = ½ dσ_yz/dε_yz. The bulk modulus under
isotropic scaling is B = −V dP/dV = (1/9) Σ_{i,j ≤ 3} dσ_ii/dε_jj (for a cubic crystal
(C11 + 2 C12)/3).
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import Tensor

from mlip.types import Edges, System

#: Voigt index -> (row, column) of the symmetric 3x3 tensor.
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def voigt_matrix(v: Tensor) -> Tensor:
    """(3, 3) symmetric tensor from a Voigt 6-vector of tensor components."""
    return torch.stack([
        torch.stack([v[0], v[5], v[4]]),
        torch.stack([v[5], v[1], v[3]]),
        torch.stack([v[4], v[3], v[2]]),
    ])


class StrainProbe:
    """σ(ε) of one structure (one-system ``system`` with ``edges``) for ``model``; derivative
    rows are computed once and memoised.

    Args:
        model: ``model(system, edges, compute_stress, create_graph) -> Prediction``.
        differentiable: keep the graph of the derivatives (for the loss); False for logging.
    """

    def __init__(self, model, system: System, edges: Edges, differentiable: bool):
        self.differentiable = differentiable
        dtype, device = system.positions.dtype, system.positions.device
        self.strain = torch.zeros(6, dtype=dtype, device=device, requires_grad=True)
        deformation = torch.eye(3, dtype=dtype, device=device) + voigt_matrix(self.strain)
        strained = system._replace(positions=system.positions @ deformation, cell=system.cell @ deformation)
        pred = model(strained, edges, compute_stress=True, create_graph=True)
        self.stress = pred.stress[0]  # (3, 3) eV/Å³ at ε = 0, graph kept
        self._rows: Dict[Tuple[float, ...], Tensor] = {}

    def derivative(self, weights: Tuple[float, ...]) -> Tensor:
        """(6,) d(Σ_k w_k σ_k)/dε_j, eV/Å³, for Voigt stress weights ``w`` (6 numbers)."""
        if weights not in self._rows:
            combo = sum(w * self.stress[i, j] for w, (i, j) in zip(weights, VOIGT) if w != 0.0)
            (row,) = torch.autograd.grad(combo, self.strain, create_graph=self.differentiable, retain_graph=True)
            self._rows[weights] = row
        return self._rows[weights]

    def pressure(self) -> Tensor:
        """P = −tr σ / 3, eV/Å³ (positive under compression)."""
        return -torch.diagonal(self.stress).sum() / 3.0

    def bulk_modulus(self) -> Tensor:
        """B = (1/9) Σ_{i,j ≤ 3} dσ_ii/dε_jj = −V dP/dV, eV/Å³."""
        return self.derivative((1.0, 1.0, 1.0, 0.0, 0.0, 0.0))[:3].sum() / 9.0

    def cubic_elastic_constants(self) -> Tuple[Tensor, Tensor, Tensor]:
        """(C11, C12, C44) in eV/Å³, averaged over the three cubic axes (three backward passes,
        one of them shared with :meth:`bulk_modulus`). Assumes the cubic axes along x, y, z."""
        trace = self.derivative((1.0, 1.0, 1.0, 0.0, 0.0, 0.0))
        c11_plus_2c12 = trace[:3].mean()
        diff = self.derivative((1.0, -1.0, 0.0, 0.0, 0.0, 0.0))
        c11_minus_c12 = 0.5 * (diff[0] - diff[1])
        shear = self.derivative((0.0, 0.0, 0.0, 1.0, 1.0, 1.0))
        c44 = 0.5 * shear[3:].mean()
        c11 = (c11_plus_2c12 + 2.0 * c11_minus_c12) / 3.0
        c12 = (c11_plus_2c12 - c11_minus_c12) / 3.0
        return c11, c12, c44
