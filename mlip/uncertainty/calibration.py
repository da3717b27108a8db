"""Fit LLPR's scale α and regulariser λ on validation errors by Gaussian likelihood.

For each λ of a grid the unscaled variances q(λ) = fᵀ(C + λI)⁻¹f are known; a predicted total
variance σ² = α·q of an error vector with ``dof`` components (1 for an energy, 3 for a force,
whose σ² is Σ_xyz var like the committee's forces_std) has the negative log-likelihood

    NLL(α, λ) = Σ_n [dof/2 · log(2π α q_n / dof) + dof · err_n² / (2 α q_n)]

minimised over α in closed form, α = ⟨err²/q⟩, and over λ on the grid.
"""
from __future__ import annotations

from typing import Callable, Sequence, Tuple

import numpy as np

from mlip.errors import DataError


def fit_variance_scale(unscaled: Callable[[float], np.ndarray], sq_errors: np.ndarray, lambdas: Sequence[float],
                       dof: int = 1) -> Tuple[float, float, float]:
    """``(λ, α, mean NLL)`` minimising the NLL of ``sq_errors`` (squared error norms) given
    ``unscaled(λ)`` -> q per sample; α is dimensionless·(unit of err²/unit of q)."""
    err2 = np.asarray(sq_errors, dtype=np.float64).reshape(-1)
    if err2.size == 0:
        raise DataError("no validation errors to calibrate the uncertainty on")
    best = None
    for lam in lambdas:
        q = np.maximum(np.asarray(unscaled(float(lam)), dtype=np.float64).reshape(-1), 1e-300)
        alpha = float(np.mean(err2 / q))
        if alpha <= 0:
            alpha = 1e-300
        var = alpha * q / dof
        nll = float(np.mean(0.5 * dof * np.log(2 * np.pi * var) + 0.5 * err2 / var))
        if best is None or nll < best[2]:
            best = (float(lam), alpha, nll)
    return best


def relative_lambda_grid(scale: float, decades: Sequence[float] = tuple(np.arange(-12.0, 2.5, 0.5))) -> np.ndarray:
    """λ values 10^k · ``scale`` (use the covariance's mean eigenvalue)."""
    return np.array([10.0 ** k * max(scale, 1e-300) for k in decades])
