"""``LLPR``: last-layer prediction rigidity of one trained model (Bigi et al. 2024).

    σ_E² (structure) = α_E · fᵀ (FᵀF + λ_E I)⁻¹ f,   f = Σ_{i in structure} f_i     (eV²)
    σ_i² (atom)      = α_F · f_iᵀ (AᵀA + λ_F I)⁻¹ f_i                               ((eV/Å)²)

F holds the training structures' summed last-layer features
(:mod:`mlip.uncertainty.last_layer_features`) and A the training atoms' own features (the
local prediction rigidity of an atom's environment); with ``atom_covariance=None`` atoms use
FᵀF too — a poor novelty detector, since an atom's features need not lie along the directions
that the training structures' sums explore. (α_E, λ_E) are fitted to validation energy
errors and (α_F, λ_F) to validation per-atom force-error norms |ΔF_i| (:mod:`.calibration`),
so σ_i is on the scale of the committee's forces_std = sqrt(Σ_xyz var F_i). All σ are
invariant under rotations, translations and permutations (the features are invariant).

Usage::

    llpr = fit_llpr(potential, train_batches).calibrated(potential, valid_batches)
    prediction, sigmas = llpr.predict(potential, system, edges)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, Iterable, NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from mlip.potential import Potential
from mlip.types import Edges, Prediction, System
from mlip.uncertainty.calibration import fit_variance_scale, relative_lambda_grid
from mlip.uncertainty.covariance import FeatureCovariance
from mlip.uncertainty.last_layer_features import ReadoutRecorder, last_layer_features


class LLPRSigmas(NamedTuple):
    """``energy_sigma_eV`` (n_systems,) and ``atom_sigma_eV_per_A`` (n_atoms,), float64 numpy."""

    energy_sigma_eV: np.ndarray
    atom_sigma_eV_per_A: np.ndarray


def structure_sums(atom_features: np.ndarray, system_index: np.ndarray, n_systems: int) -> np.ndarray:
    """(n_systems, D) sums of the per-atom feature rows of each structure."""
    out = np.zeros((n_systems, atom_features.shape[1]), dtype=np.float64)
    np.add.at(out, np.asarray(system_index), np.asarray(atom_features, dtype=np.float64))
    return out


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


@dataclass(frozen=True)
class LLPR:
    """Covariance of the training features plus calibrated (λ, α) for energies and atoms."""

    covariance: FeatureCovariance
    atom_covariance: Optional[FeatureCovariance] = None
    with_shift: bool = False
    energy_lambda: float = 0.0
    energy_alpha: float = 1.0
    atom_lambda: float = 0.0
    atom_alpha: float = 1.0

    @property
    def atoms(self) -> FeatureCovariance:
        """The covariance of per-atom σ: AᵀA, or FᵀF when no atom covariance was fitted."""
        return self.covariance if self.atom_covariance is None else self.atom_covariance

    def sigmas_from_features(self, atom_features: np.ndarray, system_index: np.ndarray, n_systems: int) -> LLPRSigmas:
        """σ_E per structure and σ_i per atom from per-atom features (n_atoms, D)."""
        f = np.asarray(atom_features, dtype=np.float64)
        sums = structure_sums(f, system_index, n_systems)
        e = self.energy_alpha * self.covariance.quadratic(sums, self.energy_lambda)
        a = self.atom_alpha * self.atoms.quadratic(f, self.atom_lambda)
        return LLPRSigmas(np.sqrt(e), np.sqrt(a))

    def predict(self, potential: Potential, system: System, edges: Edges, compute_stress: bool = False) -> Tuple[Prediction, LLPRSigmas]:
        """The potential's ordinary prediction plus LLPR σ, from the same forward pass."""
        with ReadoutRecorder(potential, self.with_shift) as rec:
            pred = potential(system, edges, compute_stress)
        sigmas = self.sigmas_from_features(_numpy(rec.features()), _numpy(system.system_index).astype(np.int64),
                                           int(system.cell.shape[0]))
        return pred, sigmas

    def calibrated(self, potential: Potential, batches: Iterable) -> "LLPR":
        """A copy with (λ, α) fitted on labelled validation batches (:class:`mlip.data.batch.Batch`):
        energies for (λ_E, α_E), per-atom force errors for (λ_F, α_F)."""
        sums, e_err2, feats, f_err2 = [], [], [], []
        for b in batches:
            with ReadoutRecorder(potential, self.with_shift) as rec:
                pred = potential(b.system, b.edges)
            f = _numpy(rec.features())
            n_sys = int(b.system.cell.shape[0])
            s = structure_sums(f, _numpy(b.system.system_index).astype(np.int64), n_sys)
            em, fm = _numpy(b.energy_mask).astype(bool), _numpy(b.forces_mask).astype(bool)
            sums.append(s[em])
            e_err2.append(((_numpy(pred.energy) - _numpy(b.energy)) ** 2)[em])
            feats.append(f[fm])
            f_err2.append(((_numpy(pred.forces) - _numpy(b.forces)) ** 2).sum(axis=1)[fm])
        out = self
        if sum(len(x) for x in e_err2):
            s_all = np.concatenate(sums)
            grid = relative_lambda_grid(self.covariance.mean_eigenvalue())
            lam, alpha, _ = fit_variance_scale(lambda l: self.covariance.quadratic(s_all, l), np.concatenate(e_err2), grid, dof=1)
            out = replace(out, energy_lambda=lam, energy_alpha=alpha)
        if sum(len(x) for x in f_err2):
            f_all = np.concatenate(feats)
            grid = relative_lambda_grid(self.atoms.mean_eigenvalue())
            lam, alpha, _ = fit_variance_scale(lambda l: self.atoms.quadratic(f_all, l), np.concatenate(f_err2), grid, dof=3)
            out = replace(out, atom_lambda=lam, atom_alpha=alpha)
        return out

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable state (eigenvalues/vectors as lists)."""
        return {"covariance": self.covariance.to_dict(),
                "atom_covariance": None if self.atom_covariance is None else self.atom_covariance.to_dict(),
                "with_shift": self.with_shift, "energy_lambda": self.energy_lambda, "energy_alpha": self.energy_alpha,
                "atom_lambda": self.atom_lambda, "atom_alpha": self.atom_alpha}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "LLPR":
        atoms = d.get("atom_covariance")
        return cls(FeatureCovariance.from_dict(d["covariance"]), None if atoms is None else FeatureCovariance.from_dict(atoms),
                   bool(d["with_shift"]), float(d["energy_lambda"]), float(d["energy_alpha"]),
                   float(d["atom_lambda"]), float(d["atom_alpha"]))


def fit_llpr(potential: Potential, batches: Iterable, with_shift: bool = False, relative_lambda: float = 1e-6,
             atom_covariance: bool = True) -> LLPR:
    """LLPR of ``potential`` from training batches (anything with ``.system`` and ``.edges``):
    FᵀF of the structures' summed features and (``atom_covariance``) AᵀA of the atoms' own;
    uncalibrated (α = 1, λ = ``relative_lambda`` · trace/D) until :meth:`LLPR.calibrated`."""
    structures, atoms = [], []
    for b in batches:
        f = _numpy(last_layer_features(potential, b.system, b.edges, with_shift))
        structures.append(structure_sums(f, _numpy(b.system.system_index).astype(np.int64), int(b.system.cell.shape[0])))
        atoms.append(f)
    cov = FeatureCovariance.from_blocks(structures)
    acov = FeatureCovariance.from_blocks(atoms) if atom_covariance else None
    return LLPR(cov, acov, with_shift, relative_lambda * cov.mean_eigenvalue(), 1.0,
                relative_lambda * (acov or cov).mean_eigenvalue(), 1.0)
