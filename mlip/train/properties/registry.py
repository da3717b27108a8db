"""The target kinds by name, and the parsing of ``training.properties`` (a list of targets).

Every entry has ``kind`` (one of :data:`KINDS`), an optional ``name`` (letters, digits, ``_``;
default: the kind, numbered when it repeats) that labels its logged columns, an optional
``weight`` (≥ 0, default 1), a structure, and its target value(s) with the unit in the key
(``lattice_constant_A``, ``bulk_modulus_GPa``, ``c11_GPa``, ``frequencies_cm1``, ``energies_eV``),
and, for a multi-fidelity model, an optional ``fidelity`` (the level of theory the target value
is at; default the highest). The fidelity name is checked against the model when training
starts (:meth:`mlip.train.properties.property_loss.PropertyLoss.check`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Tuple

from mlip.errors import ConfigError
from mlip.train.properties.bulk_modulus import BulkModulusTarget
from mlip.train.properties.elastic_cubic import ElasticCubicTarget
from mlip.train.properties.energy_curve import EnergyCurveTarget
from mlip.train.properties.frequencies import FrequenciesTarget
from mlip.train.properties.lattice_constant import LatticeConstantTarget
from mlip.train.properties.target import PropertyTarget, number
from mlip.train.properties.zero_stress import ZeroStressTarget

KINDS: Dict[str, Any] = {cls.kind: cls for cls in (
    ZeroStressTarget, LatticeConstantTarget, BulkModulusTarget, ElasticCubicTarget, FrequenciesTarget, EnergyCurveTarget)}


def parse_property_targets(entries: Any) -> Tuple[PropertyTarget, ...]:
    """Parse and check the ``training.properties`` list; bad entries raise ConfigError naming
    the entry (``training.properties[i]``) and the fix."""
    if not entries:
        return ()
    if not isinstance(entries, (list, tuple)):
        raise ConfigError("training.properties: give a list of targets, each a mapping with kind, structure, "
                          f"target value and weight; got {type(entries).__name__}")
    targets, seen = [], {}
    for i, entry in enumerate(entries):
        where = f"training.properties[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping (kind, structure, value, weight), got {entry!r}")
        kind = entry.get("kind")
        if kind not in KINDS:
            why = "has no 'kind'" if kind is None else f"has unknown kind {kind!r}"
            raise ConfigError(f"{where} {why}; choose one of {sorted(KINDS)}")
        seen[kind] = seen.get(kind, 0) + 1
        name = entry.get("name", kind if seen[kind] == 1 else f"{kind}_{seen[kind]}")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ConfigError(f"{where}: name must be letters, digits and '_' (it names logged columns), got {name!r}")
        where = f"{where} ({name})"
        weight = number(entry, "weight", where) if "weight" in entry else 1.0
        if weight < 0:
            raise ConfigError(f"{where}: weight must be >= 0, got {weight}")
        fidelity = entry.get("fidelity")
        if fidelity is not None and (not isinstance(fidelity, str) or not fidelity or fidelity != fidelity.strip()):
            raise ConfigError(f"{where}: fidelity must be the name of one of the model's fidelities (e.g. b3lyp), "
                              f"got {fidelity!r}; leave it out for the highest")
        target = KINDS[kind].parse(entry, where, name, weight)
        targets.append(dataclasses.replace(target, fidelity=fidelity) if fidelity is not None else target)
    names = [t.name for t in targets]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"training.properties: the name(s) {duplicated} are used twice; give each target its own name")
    return tuple(targets)
