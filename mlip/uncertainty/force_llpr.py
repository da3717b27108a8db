"""``ForceLLPR``: last-layer prediction rigidity of the forces of one trained model.

Forces are linear in the last layer too, F_j = Σ_k w2_k g_k,j with the force features
g_k,j = −∂(Σ_i f_i,k)/∂r_j (:func:`mlip.uncertainty.last_layer_features.force_feature_jacobian`).
With G the training set's force rows (one per atom and Cartesian component),

    σ_j² = α · Σ_xyz g_j,xᵀ (GᵀG + λ I)⁻¹ g_j,x          ((eV/Å)², like forces_std²)

and (λ, α) fitted to validation per-atom force-error norms |ΔF_j| (:mod:`.calibration`). The
force features need one backward pass per feature (readout_hidden of them), so this costs more
than an evaluation; :class:`mlip.uncertainty.llpr.LLPR` (energy features) costs almost nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np
import torch

from mlip.potential import Potential
from mlip.types import Edges, System
from mlip.uncertainty.calibration import fit_variance_scale, relative_lambda_grid
from mlip.uncertainty.covariance import FeatureCovariance
from mlip.uncertainty.last_layer_features import force_feature_jacobian


def _rows(potential: Potential, system: System, edges: Edges) -> np.ndarray:
    """(n_atoms, 3, D) force features of ``system``, float64."""
    g = force_feature_jacobian(potential, system, edges)  # (D, n_atoms, 3)
    return g.permute(1, 2, 0).cpu().to(torch.float64).numpy()


@dataclass(frozen=True)
class ForceLLPR:
    """Covariance of the training force features and the calibrated (λ, α)."""

    covariance: FeatureCovariance
    lam: float
    alpha: float = 1.0

    def unscaled(self, rows: np.ndarray, lam: float) -> np.ndarray:
        """Σ_xyz gᵀ(C + λI)⁻¹g per atom from rows (n_atoms, 3, D)."""
        return self.covariance.quadratic(rows, lam).sum(axis=-1)

    def atom_sigmas(self, potential: Potential, system: System, edges: Edges) -> np.ndarray:
        """(n_atoms,) σ_j in eV/Å."""
        return np.sqrt(self.alpha * self.unscaled(_rows(potential, system, edges), self.lam))

    def calibrated(self, potential: Potential, batches: Iterable) -> "ForceLLPR":
        """A copy with (λ, α) fitted on labelled validation batches (:class:`mlip.data.batch.Batch`)."""
        rows, err2 = [], []
        for b in batches:
            pred = potential(b.system, b.edges)
            mask = b.forces_mask.cpu().numpy().astype(bool)
            rows.append(_rows(potential, b.system, b.edges)[mask])
            diff = (pred.forces - b.forces.to(pred.forces.dtype)).detach().cpu().to(torch.float64).numpy()
            err2.append((diff ** 2).sum(axis=1)[mask])
        r = np.concatenate(rows)
        grid = relative_lambda_grid(self.covariance.mean_eigenvalue())
        lam, alpha, _ = fit_variance_scale(lambda l: self.unscaled(r, l), np.concatenate(err2), grid, dof=3)
        return replace(self, lam=lam, alpha=alpha)


def fit_force_llpr(potential: Potential, batches: Iterable, relative_lambda: float = 1e-6) -> ForceLLPR:
    """ForceLLPR of ``potential`` from training batches (``.system``, ``.edges``); uncalibrated."""
    cov = FeatureCovariance.from_blocks(_rows(potential, b.system, b.edges) for b in batches)
    return ForceLLPR(cov, relative_lambda * cov.mean_eigenvalue(), 1.0)
