"""Checks shared by the targets that need a periodic structure (stress, moduli)."""
from __future__ import annotations

from typing import Any, Mapping

from mlip.errors import ConfigError
from mlip.train.properties.structure import Structure, read_structure


def periodic_structure(entry: Mapping[str, Any], where: str) -> Structure:
    """The target's structure, which must be periodic in all three directions (it has a stress)."""
    if "structure" not in entry:
        raise ConfigError(f"{where}: give the structure (a file path or e.g. {{bulk: Cu, crystalstructure: fcc, a: 3.6}})")
    structure = read_structure(entry["structure"], where)
    if not all(structure.pbc):
        raise ConfigError(f"{where}: the structure {structure.description} is not periodic in all three directions, "
                          f"so it has no stress; a {entry.get('kind')} target needs a bulk crystal")
    return structure
