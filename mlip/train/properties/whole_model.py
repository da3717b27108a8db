"""The energy model a property target differentiates: every torch term of a potential.

While training on residuals (Δ-learning) a potential evaluates its learned term alone; a
property of the material, though, belongs to the whole potential, baselines included. This
adapter calls the potential's one autograd wrapper (:class:`mlip.models.force_model.ForceModel`)
with all its torch terms, with the call signature of a potential (which
:func:`mlip.models.hessian.hessian` also accepts). Units: Å, eV, eV/Å, eV/Å³.
"""
from __future__ import annotations

import torch

from mlip.errors import ConfigError
from mlip.types import Edges, Prediction, System


class WholeModel:
    """``model(system, edges, compute_stress, create_graph) -> Prediction`` of all torch terms of
    ``potential``, forces and stress by its autograd wrapper; ``cutoff`` (Å), ``dtype``, ``device``."""

    def __init__(self, potential):
        if getattr(potential, "external", None) is not None:
            raise ConfigError(
                "training.properties: the potential has an external ASE baseline "
                f"({potential.external.spec.get('calculator', 'ase')}), which autograd cannot differentiate, "
                "so its properties cannot be targets; remove the property targets or train without that baseline"
            )
        self.potential = potential

    @property
    def cutoff(self) -> float:
        return self.potential.cutoff

    @property
    def dtype(self) -> torch.dtype:
        return self.potential.dtype

    @property
    def device(self) -> torch.device:
        return self.potential.device

    def __call__(self, system: System, edges: Edges, compute_stress: bool = False, create_graph: bool = False,
                 compute_forces: bool = True) -> Prediction:
        """Energy (n_systems,) eV, forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å³."""
        return self.potential.model(system, edges, compute_forces, compute_stress, create_graph)
