"""``kind: elastic_cubic``: the cubic elastic constants C11, C12, C44 of a crystal.

::

    - kind: elastic_cubic
      structure: {bulk: Cu, crystalstructure: fcc, a: 3.59}   # cubic axes along x, y, z
      c11_GPa: 176.0          # any of c11_GPa, c12_GPa, c44_GPa
      c12_GPa: 116.0
      c44_GPa: 90.0
      weight: 100
      scale_GPa: 2            # optional, default max(|target|, 1 GPa) each (relative errors)

C_ij = dσ_i/dε_j at the structure (C44 per engineering shear strain), from the strain derivative
of the autograd stress, averaged over the three cubic axes
(:mod:`mlip.train.properties.strain_probe`). Ions are clamped (atoms follow the homogeneous
strain); for a cell whose atoms are all inversion centres (fcc, bcc, one atom per primitive
cell) that equals the relaxed-ion constants; for e.g. diamond C44 the internal relaxation is
not included. At a stress-free structure these are the usual elastic constants, so give the
structure at the equilibrium lattice constant. Residuals: (C − C_target)/scale for each given
constant. Logged: ``c11_GPa``, ``c12_GPa``, ``c44_GPa``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

import torch
from torch import Tensor

from mlip.errors import ConfigError
from mlip.train.properties.periodic import periodic_structure
from mlip.train.properties.structure import Structure
from mlip.train.properties.target import PropertyTarget, check_keys, number
from mlip.units import EV_PER_A3_IN_GPA

CONSTANTS = ("c11_GPa", "c12_GPa", "c44_GPa")


@dataclass(frozen=True)
class ElasticCubicTarget(PropertyTarget):
    structure: Structure
    targets_GPa: Tuple[Tuple[str, float], ...]  # (key, value) for the given constants
    scales_GPa: Tuple[float, ...]

    kind = "elastic_cubic"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str, name: str, weight: float) -> "ElasticCubicTarget":
        check_keys(entry, where, ["structure"], CONSTANTS + ("scale_GPa",))
        given = {k: number(entry, k, where) for k in CONSTANTS if k in entry}
        if not given:
            raise ConfigError(f"{where}: give at least one of {list(CONSTANTS)}")
        for k in ("c11_GPa", "c44_GPa"):
            if k in given and given[k] <= 0:
                raise ConfigError(f"{where}: {k} = {given[k]} is not positive: a crystal with it is mechanically "
                                  "unstable; check the value and its unit (GPa)")
        if "c11_GPa" in given and "c12_GPa" in given:
            c11, c12 = given["c11_GPa"], given["c12_GPa"]
            if not (c11 > abs(c12) and c11 + 2.0 * c12 > 0):
                raise ConfigError(f"{where}: c11_GPa = {c11}, c12_GPa = {c12} violate the cubic stability conditions "
                                  "C11 > |C12| and C11 + 2 C12 > 0; check the values and their unit (GPa)")
        structure = periodic_structure(entry, where)
        if structure.cubic_a_A is None:
            raise ConfigError(f"{where}: the structure {structure.description} is not a cubic crystal with its axes "
                              "along x, y, z (an ASE bulk builder with a cubic crystalstructure, or a file whose cell "
                              "is a·I); cubic elastic constants need one")
        if "scale_GPa" in entry:
            scales = (number(entry, "scale_GPa", where, positive=True),) * len(given)
        else:
            scales = tuple(max(abs(v), 1.0) for v in given.values())
        return cls(name, weight, structure, tuple(given.items()), scales)

    def structures(self) -> Tuple[Structure, ...]:
        return (self.structure,)

    def _constants_GPa(self, evaluation) -> Dict[str, Tensor]:
        c = evaluation.probe(self.structure).cubic_elastic_constants()
        return {k: v * EV_PER_A3_IN_GPA for k, v in zip(CONSTANTS, c)}

    def residuals(self, evaluation) -> Tensor:
        c = self._constants_GPa(evaluation)
        return torch.stack([(c[k] - t) / s for (k, t), s in zip(self.targets_GPa, self.scales_GPa)])

    def values(self, evaluation) -> Dict[str, float]:
        return {k: float(v.detach()) for k, v in self._constants_GPa(evaluation).items()}
