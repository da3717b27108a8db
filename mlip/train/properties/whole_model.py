"""The energy model a property target differentiates: every torch term of a potential.

While training on residuals (Δ-learning) a potential evaluates its learned term alone; a
property of the material, though, belongs to the whole potential, baselines included. This
adapter calls the potential's one autograd wrapper (:class:`mlip.models.force_model.ForceModel`)
with all its torch terms, with the call signature of a potential (which
:func:`mlip.models.hessian.hessian` also accepts). Units: Å, eV, eV/Å, eV/Å³.

A multi-fidelity potential is evaluated at one named fidelity (default the highest, whichever
fidelity the potential happens to be set to), baselines included as at every fidelity.
"""
from __future__ import annotations

from typing import Optional

import torch

from mlip.errors import ConfigError, UnknownFidelityError
from mlip.models.fidelity_names import fidelity_index
from mlip.models.force_model import ForceModel
from mlip.models.multi_fidelity import learned_term_for
from mlip.types import Edges, Prediction, System


class WholeModel:
    """``model(system, edges, compute_stress, create_graph) -> Prediction`` of all torch terms of
    ``potential``, forces and stress by its autograd wrapper; ``cutoff`` (Å), ``dtype``, ``device``.

    ``fidelity``: the fidelity of a multi-fidelity potential to evaluate (None: the highest);
    ``where`` names the caller in errors. A name the potential lacks, or any name for a
    single-fidelity potential, is an UnknownFidelityError (a ConfigError) listing the known ones."""

    def __init__(self, potential, fidelity: Optional[str] = None, where: str = "training.properties"):
        if getattr(potential, "external", None) is not None:
            raise ConfigError(
                "training.properties: the potential has an external ASE baseline "
                f"({potential.external.spec.get('calculator', 'ase')}), which autograd cannot differentiate, "
                "so its properties cannot be targets; remove the property targets or train without that baseline"
            )
        self.potential = potential
        known = tuple(getattr(potential, "fidelities", ()))
        try:
            self.fidelity = None if not known and fidelity is None else known[fidelity_index(fidelity, known)]
        except UnknownFidelityError as exc:
            fix = "; give one of them as the target's 'fidelity', or leave it out for the highest" if known else ""
            raise UnknownFidelityError(f"{where}: {exc}{fix}") from exc

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
        model = self.potential.model
        if self.fidelity is not None:
            learned = learned_term_for(model.terms[0], [self.fidelity] * int(system.cell.shape[0]), system)
            if learned is not model.terms[0]:
                model = ForceModel([learned] + list(model.terms)[1:])
        return model(system, edges, compute_forces, compute_stress, create_graph)
