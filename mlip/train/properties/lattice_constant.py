"""``kind: lattice_constant``: the equilibrium lattice constant of a cubic crystal.

::

    - kind: lattice_constant
      structure: {bulk: Cu, crystalstructure: fcc}   # cubic; its a is set to the target
      lattice_constant_A: 3.59
      weight: 100
      modulus_scale_GPa: 140                          # optional, default 100

The equilibrium of E(a) is where the pressure vanishes, so the target asks for zero pressure
at a = lattice_constant_A: the residual is

    r = P(a_target) / (3 B_s),   B_s = modulus_scale_GPa,

which is, to first order, the relative error (a_model − a_target)/a_target of the model's own
equilibrium when B_s is its bulk modulus (dP = −3B da/a). Penalising the pressure needs one
stress evaluation at a fixed structure, is smooth in the weights, and has the right minimum;
solving for the model's a_eq inside the loss would need an inner root search every step.
B_s is fixed (not the model's own B, which the loss could then inflate instead of removing P).
The model's actual equilibrium lattice constant (Newton steps a ← a (1 + P/3B) until |Δa| <
1e-6 a) is logged as ``lattice_constant_A``, with ``pressure_GPa`` at the target.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

from torch import Tensor

from mlip.errors import ConfigError
from mlip.train.properties.periodic import periodic_structure
from mlip.train.properties.structure import Structure
from mlip.train.properties.target import PropertyTarget, check_keys, number, optional_scale
from mlip.units import EV_PER_A3_IN_GPA

#: Default modulus that converts stress into an approximate relative strain error, GPa.
DEFAULT_MODULUS_SCALE_GPA = 100.0


@dataclass(frozen=True)
class LatticeConstantTarget(PropertyTarget):
    structure: Structure
    lattice_constant_A: float
    modulus_scale_GPa: float

    kind = "lattice_constant"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str, name: str, weight: float) -> "LatticeConstantTarget":
        check_keys(entry, where, ["structure", "lattice_constant_A"], ["modulus_scale_GPa"])
        target = number(entry, "lattice_constant_A", where, positive=True)
        structure = periodic_structure(entry, where)
        if structure.cubic_a_A is None:
            raise ConfigError(f"{where}: the structure {structure.description} is not a cubic crystal (an ASE bulk "
                              "builder with a cubic crystalstructure, or a file whose cell is a·I), so it has no "
                              "single lattice constant; use kind: zero_stress at the structure with the target cell")
        scale = optional_scale(entry, "modulus_scale_GPa", where, DEFAULT_MODULUS_SCALE_GPA)
        return cls(name, weight, structure.scaled(target / float(structure.cubic_a_A)), target, scale)

    def structures(self) -> Tuple[Structure, ...]:
        return (self.structure,)

    def residuals(self, evaluation) -> Tensor:
        pressure = evaluation.probe(self.structure).pressure()
        return (pressure / (3.0 * self.modulus_scale_GPa / EV_PER_A3_IN_GPA)).reshape(1)

    def values(self, evaluation) -> Dict[str, float]:
        pressure = float(evaluation.probe(self.structure).pressure().detach())
        return {"lattice_constant_A": self.equilibrium_lattice_constant(evaluation),
                "pressure_GPa": pressure * EV_PER_A3_IN_GPA}

    def equilibrium_lattice_constant(self, evaluation, max_steps: int = 30) -> float:
        """The model's equilibrium lattice constant, Å, by Newton steps on P(a) = 0 from the
        target; NaN when the model has no stable equilibrium nearby (B ≤ 0 or no convergence)."""
        a = self.lattice_constant_A
        for _ in range(max_steps):
            probe = evaluation.probe(self.structure.scaled(a / self.lattice_constant_A), keep=False)
            pressure, modulus = float(probe.pressure().detach()), float(probe.bulk_modulus().detach())
            if not (modulus > 0 and math.isfinite(pressure)):
                return math.nan
            step = pressure / (3.0 * modulus)
            a *= 1.0 + max(-0.05, min(0.05, step))  # at most 5 % per step
            if abs(step) < 1e-6:
                return a
        return math.nan
