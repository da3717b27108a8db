"""Exploration conditions: a start structure turned into the system an MD run explores.

A condition (one entry of ``explore.conditions``) names a start structure by index and may
repeat it, substitute a fraction of one element by another, remove atoms (vacancies), strain
the cell isotropically (``strain``, a fraction), shear it (``shear``: the b vector tilted
along a by that fraction of |a|, making the cell triclinic) and put adatoms on a slab
(``adatoms: {element: Au, count: 2}``: above the topmost atoms along z, at random lateral
positions, 2.0 Å above the top layer and at least 2.5 Å from each other). The random choices are drawn from
a generator seeded by the loop's seed, the round and the condition, so a rerun explores the
same systems. Temperatures are K, pressures GPa.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from mlip.errors import ConfigError


@dataclass(frozen=True)
class Condition:
    """One exploration MD: the system, its temperature (K), optional pressure (GPa), steps."""

    index: int
    name: str
    atoms: Any
    temperature_K: float
    steps: int
    ensemble: str
    pressure_GPa: Optional[float]


def describe(spec: Dict[str, Any]) -> str:
    """A short label of a condition for provenance, e.g. ``s1 T=600K sub Cu->Au 0.2 vac=1``."""
    if spec.get("name"):
        return str(spec["name"])
    parts = [f"s{spec.get('structure', 0)}", f"T={spec['temperature_K']:g}K"]
    if spec.get("pressure_GPa") is not None:
        parts.append(f"P={spec['pressure_GPa']:g}GPa")
    if spec.get("substitute"):
        sub = spec["substitute"]
        parts.append(f"sub {sub.get('from')}->{sub.get('to')} {sub.get('fraction')}")
    if spec.get("adatoms"):
        parts.append(f"{spec['adatoms'].get('count')} {spec['adatoms'].get('element')} adatoms")
    for key in ("vacancies", "strain", "shear"):
        if spec.get(key):
            parts.append(f"{key}={spec[key]:g}")
    return " ".join(parts)


def build_condition(spec: Dict[str, Any], index: int, starts: List[Any], rng: np.random.Generator,
                    default_ensemble: str) -> Condition:
    """The :class:`Condition` of config entry ``index`` (``spec``), built from ``starts``."""
    where = f"explore.conditions[{index}]"
    k = spec.get("structure", 0)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(starts):
        raise ConfigError(f"{where}.structure must be an index 0..{len(starts) - 1} into the start structures, got {k!r}")
    atoms = starts[k].copy()
    atoms.calc = None
    if spec.get("repeat") is not None:
        atoms = atoms.repeat(tuple(int(r) for r in spec["repeat"]))
    if spec.get("substitute"):
        atoms = _substitute(atoms, spec["substitute"], rng, where)
    if spec.get("vacancies"):
        n = int(spec["vacancies"])
        if not 0 < n < len(atoms):
            raise ConfigError(f"{where}.vacancies must be between 1 and {len(atoms) - 1}, got {n}")
        del atoms[sorted(rng.choice(len(atoms), size=n, replace=False).tolist())]
    if spec.get("adatoms"):
        atoms = _add_adatoms(atoms, spec["adatoms"], rng, where)
    if spec.get("strain") or spec.get("shear"):
        if not atoms.pbc.all():
            raise ConfigError(f"{where}: strain and shear need a 3-D periodic start structure")
        cell = np.array(atoms.cell, dtype=float) * (1.0 + float(spec.get("strain") or 0.0))
        cell[1] = cell[1] + float(spec.get("shear") or 0.0) * cell[0]
        atoms.set_cell(cell, scale_atoms=True)
    pressure = spec.get("pressure_GPa")
    ensemble = spec.get("ensemble") or ("npt" if pressure is not None else default_ensemble)
    if ensemble == "npt" and pressure is None:
        raise ConfigError(f"{where}: ensemble npt needs pressure_GPa")
    return Condition(index, describe(spec), atoms, float(spec["temperature_K"]), int(spec["steps"]), ensemble,
                     None if pressure is None else float(pressure))


def _substitute(atoms, sub: Dict[str, Any], rng: np.random.Generator, where: str):
    from ase.data import atomic_numbers

    if not isinstance(sub, dict) or set(sub) != {"from", "to", "fraction"}:
        raise ConfigError(f"{where}.substitute must be {{from: Cu, to: Au, fraction: 0.25}}, got {sub!r}")
    for key in ("from", "to"):
        if sub[key] not in atomic_numbers:
            raise ConfigError(f"{where}.substitute.{key}: unknown element {sub[key]!r}")
    sites = np.flatnonzero(atoms.numbers == atomic_numbers[sub["from"]])
    fraction = float(sub["fraction"])
    if not 0.0 < fraction <= 1.0 or len(sites) == 0:
        raise ConfigError(f"{where}.substitute: fraction must be in (0, 1] and the structure must contain "
                          f"{sub['from']} (it has {len(sites)} such atoms)")
    n = max(1, int(round(fraction * len(sites))))
    chosen = rng.choice(sites, size=n, replace=False)
    numbers = atoms.numbers.copy()
    numbers[chosen] = atomic_numbers[sub["to"]]
    atoms.set_atomic_numbers(numbers)
    return atoms


def _add_adatoms(atoms, spec: Dict[str, Any], rng: np.random.Generator, where: str, height_A: float = 2.0,
                 min_separation_A: float = 2.5):
    from ase import Atom
    from ase.data import atomic_numbers

    if not isinstance(spec, dict) or set(spec) != {"element", "count"} or spec["element"] not in atomic_numbers:
        raise ConfigError(f"{where}.adatoms must be {{element: Au, count: 2}} with a known element, got {spec!r}")
    count = spec["count"]
    cell = np.array(atoms.cell)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"{where}.adatoms.count must be an integer >= 1, got {count!r}")
    top = atoms.positions[:, 2].max()
    if np.linalg.norm(cell[2]) < top + height_A + 3.0:
        raise ConfigError(f"{where}.adatoms need a slab with vacuum along z (the cell's c vector must reach above "
                          f"the top layer by > {height_A + 3.0:g} Å)")
    placed = []
    for _ in range(1000 * count):
        f = rng.random(2)
        xy = f[0] * cell[0, :2] + f[1] * cell[1, :2]
        if all(np.linalg.norm(_minimum_image(xy - q, cell)) >= min_separation_A for q in placed):
            placed.append(xy)
            if len(placed) == count:
                break
    if len(placed) < count:
        raise ConfigError(f"{where}.adatoms: cannot place {count} adatoms {min_separation_A} Å apart on this surface")
    for xy in placed:
        atoms.append(Atom(spec["element"], (xy[0], xy[1], top + height_A)))
    return atoms


def _minimum_image(d: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """In-plane minimum-image vector of ``d`` (x, y) for the slab's a and b vectors."""
    ab = cell[:2, :2]
    frac = np.linalg.solve(ab.T, d)
    return (frac - np.round(frac)) @ ab
