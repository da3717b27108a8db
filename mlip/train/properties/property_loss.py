"""The property part of the training loss and its logged values.

    L_prop = Σ_targets weight_t · mean_k r_{t,k}²

with the dimensionless residuals of each target (:mod:`mlip.train.properties.registry`).
Evaluated on the whole potential (all torch terms, baselines included) through its one
autograd wrapper, at each target's fidelity for a multi-fidelity potential (default the
highest); differentiable with respect to the weights.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Tuple

import torch
from torch import Tensor

from mlip.errors import ConfigError
from mlip.train.properties.evaluation import PropertyEvaluation
from mlip.train.properties.target import PropertyTarget
from mlip.train.properties.whole_model import WholeModel


class PropertyLoss:
    """``loss(potential) -> (total, parts)``; ``values(potential)`` for the per-epoch log.

    Parts and logged columns are named ``prop_<target name>`` and
    ``prop_<target name>_<quantity_unit>``.
    """

    def __init__(self, targets: Iterable[PropertyTarget]):
        self.targets: Tuple[PropertyTarget, ...] = tuple(targets)
        self._graphs: Dict = {}  # neighbour lists of the targets' structures, built once

    def __len__(self) -> int:
        return len(self.targets)

    def check(self, potential) -> None:
        """ConfigError when a target's structure has an element the potential lacks, its
        fidelity is not one of the potential's, or the potential cannot be differentiated
        (external baseline)."""
        for t in self.targets:
            WholeModel(potential, t.fidelity, where=f"training.properties ({t.name})")
        from ase.data import chemical_symbols

        known = set(int(z) for z in potential.atomic_numbers)
        for t in self.targets:
            missing = sorted({z for s in t.structures() for z in s.numbers} - known)
            if missing:
                names = [chemical_symbols[z] for z in missing]
                raise ConfigError(
                    f"training.properties ({t.name}): its structure has element(s) {names} that the model lacks "
                    f"(model elements: {list(potential.elements)}); add them to model.elements (with training "
                    "frames that contain them) or remove the target")

    def __call__(self, potential) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Total weighted property loss (scalar) and each target's mean squared residual."""
        evaluation = self._evaluations(potential, differentiable=True)
        total = torch.zeros((), dtype=potential.dtype, device=potential.device)
        parts: Dict[str, Tensor] = {}
        for t in self.targets:
            r = t.residuals(evaluation(t))
            term = (r * r).mean()
            parts[f"prop_{t.name}"] = term
            total = total + t.weight * term
        return total, parts

    def values(self, potential) -> Dict[str, float]:
        """The property values (units in the names) and each target's loss term, for the log."""
        evaluation = self._evaluations(potential, differentiable=False)
        out: Dict[str, float] = {}
        for t in self.targets:
            for key, value in t.values(evaluation(t)).items():
                out[f"prop_{t.name}_{key}"] = value
            r = t.residuals(evaluation(t)).detach()
            out[f"prop_{t.name}_loss"] = float((r * r).mean())
        return out

    def _evaluations(self, potential, differentiable: bool) -> Callable[[PropertyTarget], PropertyEvaluation]:
        """``evaluation(target)``: one PropertyEvaluation per fidelity, shared by its targets
        (strain probes of a structure are computed once per fidelity)."""
        by_fidelity: Dict[Optional[str], PropertyEvaluation] = {}

        def evaluation(t: PropertyTarget) -> PropertyEvaluation:
            model = WholeModel(potential, t.fidelity, where=f"training.properties ({t.name})")
            if model.fidelity not in by_fidelity:
                by_fidelity[model.fidelity] = PropertyEvaluation(model, self._graphs, differentiable)
            return by_fidelity[model.fidelity]

        return evaluation

    def weighted_total(self, values: Dict[str, float]) -> float:
        """Σ weight · loss term from a :meth:`values` dict (for the validation loss)."""
        return sum(t.weight * values[f"prop_{t.name}_loss"] for t in self.targets)


def property_loss_for(targets: Iterable[PropertyTarget], potential) -> PropertyLoss:
    """A checked :class:`PropertyLoss` for ``potential`` (ConfigError naming a bad target)."""
    loss = PropertyLoss(targets)
    if len(loss):
        loss.check(potential)
    return loss
