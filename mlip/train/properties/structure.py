"""The structure of a property target: read from a file or built by an ASE builder.

A ``structure:`` entry is one of

* a path to any ASE-readable file (its first frame; ``{file: PATH, index: 3}`` picks another);
* an ASE builder call: ``{bulk: Cu, crystalstructure: fcc, a: 3.6, cubic: true}`` is
  ``ase.build.bulk("Cu", crystalstructure="fcc", a=3.6, cubic=True)``, ``{molecule: H2O}`` is
  ``ase.build.molecule("H2O")``; an optional ``repeat: [2, 2, 2]`` repeats the cell.

The result is an immutable :class:`Structure` (Å, amu), converted to a
:class:`~mlip.types.System` on demand. Errors name the target and the fix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Tuple

import numpy as np
import torch

from mlip.errors import ConfigError
from mlip.types import System

#: ASE builders a ``structure:`` mapping may call, by their key.
BUILDERS = ("bulk", "molecule")
#: Lattice types of ``ase.build.bulk`` whose conventional cell is cubic (one lattice constant a).
CUBIC_CRYSTALS = ("sc", "fcc", "bcc", "diamond", "zincblende", "rocksalt", "cesiumchloride", "fluorite")


@dataclass(frozen=True)
class Structure:
    """One structure: atomic numbers, positions (Å), cell rows (Å), pbc, masses (amu).

    ``cubic_a_A`` is its cubic lattice constant in Å when the cell is known to be cubic
    (a cubic ASE bulk builder, or a file whose cell is a·I), else None.
    """

    numbers: Tuple[int, ...]
    positions_A: Tuple[Tuple[float, float, float], ...]
    cell_A: Tuple[Tuple[float, float, float], ...]
    pbc: Tuple[bool, bool, bool]
    masses_amu: Tuple[float, ...]
    description: str
    cubic_a_A: Any = None

    @property
    def periodic(self) -> bool:
        return any(self.pbc)

    def scaled(self, factor: float) -> "Structure":
        """The same structure with positions and cell multiplied by ``factor`` (isotropic)."""
        pos = tuple(tuple(float(x) * factor for x in p) for p in self.positions_A)
        cell = tuple(tuple(float(x) * factor for x in c) for c in self.cell_A)
        a = None if self.cubic_a_A is None else float(self.cubic_a_A) * factor
        return Structure(self.numbers, pos, cell, self.pbc, self.masses_amu, self.description, a)

    def system(self, dtype: torch.dtype, device: torch.device) -> System:
        """This structure as a one-system :class:`~mlip.types.System` (Å)."""
        n = len(self.numbers)
        return System(
            positions=torch.tensor(self.positions_A, dtype=dtype, device=device).reshape(n, 3),
            atomic_numbers=torch.tensor(self.numbers, dtype=torch.int64, device=device),
            cell=torch.tensor(self.cell_A, dtype=dtype, device=device).reshape(1, 3, 3),
            pbc=torch.tensor([self.pbc], dtype=torch.bool, device=device),
            system_index=torch.zeros(n, dtype=torch.int64, device=device),
        )


def _from_atoms(atoms, description: str, cubic_a_A=None) -> Structure:
    cell = np.asarray(atoms.cell[:], dtype=float)
    if cubic_a_A is None and atoms.pbc.all() and np.allclose(cell, cell[0, 0] * np.eye(3), atol=1e-8) and cell[0, 0] > 0:
        cubic_a_A = float(cell[0, 0])
    return Structure(
        numbers=tuple(int(z) for z in atoms.numbers),
        positions_A=tuple(tuple(float(x) for x in p) for p in atoms.positions),
        cell_A=tuple(tuple(float(x) for x in c) for c in cell),
        pbc=tuple(bool(p) for p in atoms.pbc),
        masses_amu=tuple(float(m) for m in atoms.get_masses()),
        description=description,
        cubic_a_A=cubic_a_A,
    )


def _read_file(path: str, index: Any, where: str) -> Structure:
    import ase.io

    if not os.path.isfile(path):
        raise ConfigError(f"{where}: structure file {path!r} does not exist; give the path of an ASE-readable "
                          "file (relative to the working directory) or an ASE builder such as "
                          "{bulk: Cu, crystalstructure: fcc, a: 3.6}")
    try:
        atoms = ase.io.read(path, index=index)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes a config error naming the file
        raise ConfigError(f"{where}: could not read structure {path!r} (index {index!r}): {exc}") from exc
    if isinstance(atoms, list):
        raise ConfigError(f"{where}: structure index {index!r} selects {len(atoms)} frames; give one frame index")
    return _from_atoms(atoms, f"{path}@{index}")


def _build(spec: dict, where: str) -> Structure:
    import ase.build

    spec = dict(spec)
    repeat = spec.pop("repeat", None)
    builders = [b for b in BUILDERS if b in spec]
    if len(builders) != 1:
        raise ConfigError(f"{where}: a structure mapping names exactly one builder ({' or '.join(BUILDERS)}) or "
                          f"a file ({{file: PATH}}); got keys {sorted(spec)}")
    builder = builders[0]
    name = spec.pop(builder)
    try:
        atoms = getattr(ase.build, builder)(name, **spec)
        if repeat is not None:
            atoms = atoms.repeat(tuple(int(r) for r in repeat))
    except Exception as exc:  # noqa: BLE001 - ASE's own message says what was wrong
        raise ConfigError(f"{where}: ase.build.{builder}({name!r}, {spec}) failed: {exc}; fix the structure "
                          "mapping (keys are the builder's keyword arguments)") from exc
    cubic_a = _cubic_lattice_constant(name, spec) if builder == "bulk" else None
    text = ", ".join(f"{k}: {v}" for k, v in spec.items())
    return _from_atoms(atoms, f"{builder} {name}" + (f" ({text})" if text else ""), cubic_a)


def _cubic_lattice_constant(name: str, spec: dict):
    """The cubic lattice constant a (Å) of ``ase.build.bulk(name, **spec)``, or None if not cubic."""
    import ase.build
    from ase.data import atomic_numbers, reference_states

    crystal = spec.get("crystalstructure")
    if crystal is None and name in atomic_numbers:
        crystal = (reference_states[atomic_numbers[name]] or {}).get("symmetry")
    if crystal not in CUBIC_CRYSTALS:
        return None
    return float(ase.build.bulk(name, crystalstructure=crystal, a=spec.get("a"), cubic=True).cell[0, 0])


def read_structure(spec: Any, where: str) -> Structure:
    """A :class:`Structure` from a ``structure:`` entry (path or mapping, module docstring);
    ``where`` names the target in errors."""
    if isinstance(spec, (str, os.PathLike)):
        return _read_file(str(spec), 0, where)
    if isinstance(spec, dict):
        if "file" in spec:
            extra = sorted(set(spec) - {"file", "index"})
            if extra:
                raise ConfigError(f"{where}: a file structure takes only 'file' and 'index', not {extra}")
            return _read_file(str(spec["file"]), spec.get("index", 0), where)
        return _build(spec, where)
    raise ConfigError(f"{where}: 'structure' must be a file path or a mapping such as "
                      f"{{bulk: Cu, crystalstructure: fcc, a: 3.6}}, got {type(spec).__name__}")
