"""Loss: per-atom energy, force-component and stress terms, each made dimensionless by its
scale in the training data, weighted by the user:

    L = w_E · ⟨ρ((E − E_ref) / (n_atoms σ_E))⟩_frames
      + w_F · ⟨ρ((F − F_ref) / σ_F)⟩_components
      + w_S · ⟨ρ((σ − σ_ref) / σ_S)⟩_components
      + w_q · ⟨ρ((q − q_ref) / 1 e)⟩_atoms                       (models with charges only)
      + w_μ · ⟨ρ((μ − μ_ref) / (n_atoms · 1 e·Å))⟩_components    μ = Σ_i q_i r_i

with ρ(x) = x² (MSE) or the Huber function of width ``huber_delta`` (dimensionless). Frame
weights multiply each frame's terms; unlabelled quantities are masked out. Without reference
charges or dipoles a charge model learns its charges through energies and forces alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
from torch import Tensor

from mlip.data.batch import Batch
from mlip.errors import ConfigError
from mlip.types import Prediction


@dataclass(frozen=True)
class LossConfig:
    """Weights (dimensionless) and kind of the loss; scales in eV/atom, eV/Å, eV/Å³."""

    energy_weight: float = 1.0
    forces_weight: float = 10.0
    stress_weight: float = 1.0
    charges_weight: float = 1.0
    dipole_weight: float = 1.0
    kind: str = "mse"
    huber_delta: float = 0.01

    def __post_init__(self):
        if self.kind not in ("mse", "huber"):
            raise ConfigError(f"loss.kind must be 'mse' or 'huber', got {self.kind!r}")
        for name in ("energy_weight", "forces_weight", "stress_weight", "charges_weight", "dipole_weight", "huber_delta"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"loss.{name} must be >= 0")


class Loss:
    """Callable ``loss(prediction, batch) -> (total, parts)`` with fixed data scales."""

    def __init__(self, config: LossConfig, energy_scale_eV: float, force_scale_eV_per_A: float, stress_scale_eV_per_A3: float):
        self.config = config
        tiny = 1e-12
        self.energy_scale = max(float(energy_scale_eV), tiny)
        self.force_scale = max(float(force_scale_eV_per_A), tiny)
        self.stress_scale = max(float(stress_scale_eV_per_A3), tiny)

    def _rho(self, x: Tensor) -> Tensor:
        if self.config.kind == "mse":
            return x * x
        return torch.nn.functional.huber_loss(x, torch.zeros_like(x), reduction="none", delta=self.config.huber_delta)

    def __call__(self, pred: Prediction, batch: Batch):
        c = self.config
        parts: Dict[str, Tensor] = {}
        total = torch.zeros((), dtype=pred.energy.dtype, device=pred.energy.device)
        if c.energy_weight > 0 and bool(batch.energy_mask.any()):
            m = batch.energy_mask
            x = (pred.energy - batch.energy) / batch.n_atoms.to(pred.energy.dtype) / self.energy_scale
            term = (self._rho(x) * batch.weight)[m].mean()
            parts["energy"] = term
            total = total + c.energy_weight * term
        if c.forces_weight > 0 and bool(batch.forces_mask.any()):
            m = batch.forces_mask
            w = batch.weight[batch.system.system_index][m]
            x = (pred.forces[m] - batch.forces[m]) / self.force_scale
            term = (self._rho(x).mean(dim=1) * w).mean()
            parts["forces"] = term
            total = total + c.forces_weight * term
        if c.stress_weight > 0 and pred.stress is not None and bool(batch.stress_mask.any()):
            m = batch.stress_mask
            x = (pred.stress[m] - batch.stress[m]) / self.stress_scale
            term = (self._rho(x).flatten(1).mean(dim=1) * batch.weight[m]).mean()
            parts["stress"] = term
            total = total + c.stress_weight * term
        if c.charges_weight > 0 and pred.charges is not None and batch.charges_mask is not None and bool(batch.charges_mask.any()):
            m = batch.charges_mask
            w = batch.weight[batch.system.system_index][m]
            term = (self._rho(pred.charges[m] - batch.charges[m]) * w).mean()
            parts["charges"] = term
            total = total + c.charges_weight * term
        if c.dipole_weight > 0 and pred.charges is not None and batch.dipole_mask is not None and bool(batch.dipole_mask.any()):
            m = batch.dipole_mask
            mu = torch.zeros_like(batch.dipole).index_add(0, batch.system.system_index, pred.charges.unsqueeze(1) * batch.system.positions)
            x = (mu[m] - batch.dipole[m]) / batch.n_atoms[m].to(mu.dtype).unsqueeze(1)
            term = (self._rho(x).mean(dim=1) * batch.weight[m]).mean()
            parts["dipole"] = term
            total = total + c.dipole_weight * term
        return total, parts
