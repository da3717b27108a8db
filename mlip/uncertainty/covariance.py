"""``FeatureCovariance``: C = FᵀF of last-layer features, eigendecomposed once, so that the
quadratic forms fᵀ(C + λI)⁻¹f of LLPR are cheap for any regulariser λ.

Rows of F are training samples' features (structure sums for energies, force rows for
forces); C is accumulated in float64 from batches and stored as C = V diag(c) Vᵀ. Then

    fᵀ (C + λ I)⁻¹ f = Σ_k (fᵀ v_k)² / (c_k + λ)

Units: C has the features' unit squared (eV² for energy features); λ the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable

import numpy as np

from mlip.errors import DataError


@dataclass(frozen=True)
class FeatureCovariance:
    """Eigenvalues (D,) ascending and eigenvectors (D, D) of FᵀF; ``n_rows`` samples went in."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    n_rows: int

    @classmethod
    def from_blocks(cls, blocks: Iterable[np.ndarray]) -> "FeatureCovariance":
        """Accumulate FᵀF over blocks of rows (each (n, D)), in float64."""
        total, n = None, 0
        for block in blocks:
            b = np.asarray(block, dtype=np.float64)
            b = b.reshape(-1, b.shape[-1])
            total = b.T @ b if total is None else total + b.T @ b
            n += b.shape[0]
        if total is None or n == 0:
            raise DataError("no training features given: the LLPR covariance needs at least one structure")
        values, vectors = np.linalg.eigh(0.5 * (total + total.T))
        return cls(np.clip(values, 0.0, None), vectors, n)

    @property
    def dim(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def matrix(self) -> np.ndarray:
        """FᵀF (D, D)."""
        return (self.eigenvectors * self.eigenvalues) @ self.eigenvectors.T

    def mean_eigenvalue(self) -> float:
        """trace(C)/D: the natural scale of λ (the features' unit squared)."""
        return float(np.mean(self.eigenvalues))

    def quadratic(self, features: np.ndarray, lam: float) -> np.ndarray:
        """fᵀ(C + λI)⁻¹f for every row of ``features`` (..., D) -> (...)."""
        if lam <= 0 and float(self.eigenvalues[0]) <= 0:
            raise ValueError("C is singular: give a regulariser λ > 0")
        proj = np.asarray(features, dtype=np.float64) @ self.eigenvectors
        return (proj * proj / (self.eigenvalues + lam)).sum(axis=-1)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable state."""
        return {"eigenvalues": self.eigenvalues.tolist(), "eigenvectors": self.eigenvectors.tolist(), "n_rows": self.n_rows}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "FeatureCovariance":
        return cls(np.asarray(d["eigenvalues"], dtype=np.float64), np.asarray(d["eigenvectors"], dtype=np.float64), int(d["n_rows"]))
