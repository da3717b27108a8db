"""``kind: bulk_modulus``: B = −V dP/dV = V d²E/dV² of a periodic structure, at its volume.

::

    - kind: bulk_modulus
      structure: {bulk: Cu, crystalstructure: fcc, a: 3.59}   # at the equilibrium volume
      bulk_modulus_GPa: 134.3
      weight: 100
      scale_GPa: 5             # optional, default |bulk_modulus_GPa| (relative error)

B = (1/9) Σ_{i,j ≤ 3} dσ_ii/dε_jj comes from the strain derivative of the autograd stress
(:mod:`mlip.train.properties.strain_probe`), i.e. the second derivative of E(V) under isotropic
scaling, exact and differentiable. Residual: (B − B_target)/scale. Logged: ``bulk_modulus_GPa``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

from torch import Tensor

from mlip.train.properties.periodic import periodic_structure
from mlip.train.properties.structure import Structure
from mlip.train.properties.target import PropertyTarget, check_keys, number, optional_scale
from mlip.units import EV_PER_A3_IN_GPA


@dataclass(frozen=True)
class BulkModulusTarget(PropertyTarget):
    structure: Structure
    bulk_modulus_GPa: float
    scale_GPa: float

    kind = "bulk_modulus"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str, name: str, weight: float) -> "BulkModulusTarget":
        check_keys(entry, where, ["structure", "bulk_modulus_GPa"], ["scale_GPa"])
        target = number(entry, "bulk_modulus_GPa", where, positive=True)
        return cls(name, weight, periodic_structure(entry, where), target, optional_scale(entry, "scale_GPa", where, target))

    def structures(self) -> Tuple[Structure, ...]:
        return (self.structure,)

    def _modulus_GPa(self, evaluation) -> Tensor:
        return evaluation.probe(self.structure).bulk_modulus() * EV_PER_A3_IN_GPA

    def residuals(self, evaluation) -> Tensor:
        return ((self._modulus_GPa(evaluation) - self.bulk_modulus_GPa) / self.scale_GPa).reshape(1)

    def values(self, evaluation) -> Dict[str, float]:
        return {"bulk_modulus_GPa": float(self._modulus_GPa(evaluation).detach())}
