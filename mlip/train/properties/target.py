"""What every property target is, and the checks of its keys.

A target contributes ``weight · mean_k r_k²`` to the training loss, where the residuals r_k are
dimensionless (mostly relative errors, see each kind) and differentiable with respect to the
weights; ``values`` gives the logged numbers, each with its unit in its name.

On a multi-fidelity potential a target applies to one fidelity (level of theory): its
``fidelity`` key names it, default (None) the highest.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from torch import Tensor

from mlip.errors import ConfigError
from mlip.train.properties.structure import Structure

#: Keys every target may have besides its own.
COMMON_KEYS = ("kind", "name", "weight", "structure", "fidelity")


@dataclass(frozen=True)
class PropertyTarget(ABC):
    """Base of the target kinds. ``name`` labels the logged columns (``prop_<name>_...``);
    ``fidelity``: the level of theory of a multi-fidelity potential it applies to (None: the
    highest)."""

    name: str
    weight: float
    fidelity: Optional[str] = field(default=None, kw_only=True)

    kind = ""  # set by each kind

    @abstractmethod
    def structures(self) -> Tuple[Structure, ...]:
        """Every structure the target evaluates (checked against the model's elements)."""

    @abstractmethod
    def residuals(self, evaluation) -> Tensor:
        """(n,) dimensionless residuals, differentiable w.r.t. the weights."""

    @abstractmethod
    def values(self, evaluation) -> Dict[str, float]:
        """Logged values of the property, units in the key names."""


def check_keys(entry: Mapping[str, Any], where: str, required: Iterable[str], optional: Iterable[str] = ()) -> None:
    """Unknown keys, keys without their unit and missing keys are ConfigErrors naming the fix."""
    required, optional = tuple(required), tuple(optional)
    valid = set(COMMON_KEYS) | set(required) | set(optional)
    for key in sorted(set(entry) - valid):
        with_unit = [v for v in sorted(valid) if v.startswith(key + "_")]
        if with_unit:
            raise ConfigError(f"{where}: {key!r} has no unit; write the value with its unit in the key: "
                              f"{' or '.join(with_unit)}")
        raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {sorted(valid)}")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ConfigError(f"{where}: missing {missing}; a {entry.get('kind')} target needs {list(required)}")


def number(entry: Mapping[str, Any], key: str, where: str, positive: bool = False) -> float:
    """``entry[key]`` as a finite float (> 0 when ``positive``)."""
    v = entry[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ConfigError(f"{where}: {key} must be a finite number, got {v!r}")
    if positive and float(v) <= 0:
        raise ConfigError(f"{where}: {key} must be > 0, got {v}")
    return float(v)


def numbers(entry: Mapping[str, Any], key: str, where: str, positive: bool = False) -> Tuple[float, ...]:
    """``entry[key]`` as a non-empty list of finite floats (each > 0 when ``positive``)."""
    v = entry[key]
    if not isinstance(v, (list, tuple)) or not v:
        raise ConfigError(f"{where}: {key} must be a non-empty list of numbers, got {v!r}")
    return tuple(number({key: x}, key, where, positive) for x in v)


def optional_scale(entry: Mapping[str, Any], key: str, where: str, default: Any) -> Any:
    """An optional positive scale ``entry[key]`` (its unit is in ``key``), else ``default``."""
    return number(entry, key, where, positive=True) if key in entry else default
