"""``kind: zero_stress``: a periodic structure at mechanical equilibrium (all stress zero).

::

    - kind: zero_stress
      structure: relaxed.extxyz      # e.g. an experimental or DFT-relaxed cell
      weight: 10
      modulus_scale_GPa: 100         # optional

Residuals: the six Voigt stress components divided by B_s = ``modulus_scale_GPa``, σ_k / B_s,
roughly the strain error they would cause. Logged: ``pressure_GPa`` and
``max_abs_stress_GPa``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

import torch
from torch import Tensor

from mlip.train.properties.lattice_constant import DEFAULT_MODULUS_SCALE_GPA
from mlip.train.properties.periodic import periodic_structure
from mlip.train.properties.strain_probe import VOIGT
from mlip.train.properties.structure import Structure
from mlip.train.properties.target import PropertyTarget, check_keys, optional_scale
from mlip.units import EV_PER_A3_IN_GPA


@dataclass(frozen=True)
class ZeroStressTarget(PropertyTarget):
    structure: Structure
    modulus_scale_GPa: float

    kind = "zero_stress"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str, name: str, weight: float) -> "ZeroStressTarget":
        check_keys(entry, where, ["structure"], ["modulus_scale_GPa"])
        scale = optional_scale(entry, "modulus_scale_GPa", where, DEFAULT_MODULUS_SCALE_GPA)
        return cls(name, weight, periodic_structure(entry, where), scale)

    def structures(self) -> Tuple[Structure, ...]:
        return (self.structure,)

    def _voigt(self, evaluation) -> Tensor:
        stress = evaluation.probe(self.structure).stress
        return torch.stack([stress[i, j] for i, j in VOIGT])

    def residuals(self, evaluation) -> Tensor:
        return self._voigt(evaluation) / (self.modulus_scale_GPa / EV_PER_A3_IN_GPA)

    def values(self, evaluation) -> Dict[str, float]:
        voigt = self._voigt(evaluation).detach() * EV_PER_A3_IN_GPA
        return {"pressure_GPa": float(-voigt[:3].mean()), "max_abs_stress_GPa": float(voigt.abs().max())}
