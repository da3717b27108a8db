"""Labelled frames read from any ASE-readable file, with explicit label keys and units.

A :class:`Frame` is one structure with its reference labels in mlip units (eV, eV/Å, eV/Å³).
Labels are looked up by key in ``atoms.info`` / ``atoms.arrays`` first and, for the standard
names, in an attached SinglePointCalculator. Bad frames are reported by file and frame index.

Example:
    >>> keys = DataKeys(energy="dft_energy", forces="dft_forces")   # doctest: +SKIP
    >>> frames = read_frames("ethanol.extxyz", keys)                 # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from mlip.errors import DataError

#: Energy units accepted in data files, with their value in eV.
ENERGY_UNITS_IN_EV = {"eV": 1.0, "meV": 1e-3, "Hartree": 27.211386245988, "kcal/mol": 0.04336410390059322, "kJ/mol": 0.010364269656262175}
#: Length units accepted in data files, with their value in Å.
LENGTH_UNITS_IN_A = {"Å": 1.0, "A": 1.0, "Angstrom": 1.0, "Bohr": 0.529177210903, "nm": 10.0}

#: Closest allowed distance between two atoms in a data frame, Å.
MIN_DISTANCE_A = 0.1


@dataclass(frozen=True)
class DataKeys:
    """Where labels live in the file and in which units.

    Attributes:
        energy, forces, stress, virial, charges, dipole, weight, total_charge: key names in
            ``atoms.info`` (per frame) or ``atoms.arrays`` (per atom); None to ignore.
            ``stress`` is 3x3 or Voigt-6 with ASE's sign; ``virial`` is −σV (eV) and is used
            only when ``stress`` is absent.
        energy_unit: unit of energies in the file (forces/stress follow: unit/length).
        length_unit: unit of positions in the file.
        baseline_energy, baseline_forces, baseline_stress: keys of precomputed labels of the
            potential's external (ASE) baseline, e.g. GFN2-xTB ones stored with the data (same
            units as the targets); None: the baseline is computed and cached.
        fidelity: ``atoms.info`` key naming each frame's fidelity (level of theory) for
            multi-fidelity training (``data.fidelities``, :mod:`mlip.data.fidelities`); None.
    """

    energy: Optional[str] = "energy"
    forces: Optional[str] = "forces"
    stress: Optional[str] = "stress"
    virial: Optional[str] = "virial"
    charges: Optional[str] = None
    dipole: Optional[str] = None
    weight: Optional[str] = "weight"
    total_charge: Optional[str] = "total_charge"
    energy_unit: str = "eV"
    length_unit: str = "Å"
    baseline_energy: Optional[str] = None
    baseline_forces: Optional[str] = None
    baseline_stress: Optional[str] = None
    fidelity: Optional[str] = None

    def __post_init__(self):
        if self.energy_unit not in ENERGY_UNITS_IN_EV:
            raise DataError(f"energy_unit {self.energy_unit!r} unknown; use one of {sorted(ENERGY_UNITS_IN_EV)}")
        if self.length_unit not in LENGTH_UNITS_IN_A:
            raise DataError(f"length_unit {self.length_unit!r} unknown; use one of {sorted(LENGTH_UNITS_IN_A)}")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "DataKeys":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            from mlip.errors import ConfigError

            raise ConfigError(f"unknown data key option(s) {unknown}; valid: {sorted(known)}")
        return cls(**d)


@dataclass(frozen=True)
class Frame:
    """One labelled structure in mlip units (Å, eV, eV/Å, eV/Å³, e).

    ``source`` is "file:index" for error messages; unlabelled quantities are None.
    ``baseline_*`` are precomputed labels of an external baseline (see DataKeys), or None.
    ``fidelity`` names the level of theory of the labels (multi-fidelity data), or None.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: Optional[float]
    forces: Optional[np.ndarray]
    stress: Optional[np.ndarray]
    charges: Optional[np.ndarray] = None
    dipole: Optional[np.ndarray] = None
    total_charge: float = 0.0
    weight: float = 1.0
    source: str = "?"
    info: Optional[Dict[str, Any]] = None
    baseline_energy: Optional[float] = None
    baseline_forces: Optional[np.ndarray] = None
    baseline_stress: Optional[np.ndarray] = None
    fidelity: Optional[str] = None

    @property
    def n_atoms(self) -> int:
        return int(len(self.numbers))

    def to_atoms(self):
        """An ``ase.Atoms`` with the structure (labels in ``info``/``arrays``)."""
        import ase

        return ase.Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)


def _lookup(atoms, key: Optional[str], per_atom: bool):
    if key is None:
        return None
    if per_atom and key in atoms.arrays:
        return np.asarray(atoms.arrays[key], dtype=np.float64)
    if key in atoms.info:
        return np.asarray(atoms.info[key], dtype=np.float64)
    calc = atoms.calc
    if calc is not None and key in ("energy", "forces", "stress", "free_energy", "charges", "dipole"):
        value = calc.results.get(key)
        if value is not None:
            return np.asarray(value, dtype=np.float64)
    return None


def _stress_3x3(value: np.ndarray, where: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size == 9:
        return v.reshape(3, 3)
    if v.size == 6:  # Voigt xx yy zz yz xz xy
        xx, yy, zz, yz, xz, xy = v
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise DataError(f"{where}: stress/virial must have 6 (Voigt) or 9 components, got {v.size}")


def frame_from_atoms(atoms, keys: DataKeys, source: str) -> Frame:
    """Convert one ``ase.Atoms`` to a :class:`Frame`, converting units; raises DataError."""
    e_unit = ENERGY_UNITS_IN_EV[keys.energy_unit]
    l_unit = LENGTH_UNITS_IN_A[keys.length_unit]
    declared = atoms.info.get("energy_unit")
    if declared is not None and declared != keys.energy_unit:
        raise DataError(
            f"{source}: the frame declares energy_unit={declared!r} but the data config says "
            f"{keys.energy_unit!r}; set data.keys.energy_unit to match the file"
        )
    n = len(atoms)
    if n == 0:
        raise DataError(f"{source}: frame has no atoms")
    positions = atoms.get_positions() * l_unit
    cell = np.asarray(atoms.get_cell()[:], dtype=np.float64) * l_unit
    energy = _lookup(atoms, keys.energy, per_atom=False)
    forces = _lookup(atoms, keys.forces, per_atom=True)
    stress = _lookup(atoms, keys.stress, per_atom=False)
    virial = _lookup(atoms, keys.virial, per_atom=False) if stress is None else None
    if energy is not None:
        if energy.size != 1:
            raise DataError(f"{source}: energy key {keys.energy!r} is not a scalar")
        energy = float(energy.reshape(())) * e_unit
    if forces is not None:
        if forces.shape != (n, 3):
            raise DataError(f"{source}: forces {keys.forces!r} have shape {forces.shape}, expected ({n}, 3)")
        forces = forces * (e_unit / l_unit)
    if stress is not None:
        stress = _stress_3x3(stress, source) * (e_unit / l_unit**3)
    elif virial is not None:
        vol = abs(np.linalg.det(cell))
        if vol <= 0:
            raise DataError(f"{source}: virial given but the cell has no volume")
        stress = -_stress_3x3(virial, source) * e_unit / vol
    charges = _lookup(atoms, keys.charges, per_atom=True)
    dipole = _lookup(atoms, keys.dipole, per_atom=False)
    weight = _lookup(atoms, keys.weight, per_atom=False)
    total_charge = _lookup(atoms, keys.total_charge, per_atom=False)
    if charges is not None:
        if charges.shape != (n,):
            raise DataError(f"{source}: charges {keys.charges!r} have shape {charges.shape}, expected ({n},)")
        stated = 0.0 if total_charge is None else float(total_charge)
        if abs(float(charges.sum()) - stated) > 0.01:
            raise DataError(
                f"{source}: the reference charges sum to {float(charges.sum()):+.4f} e but the total charge is "
                + (f"stated as {stated:+g} e" if total_charge is not None else "not stated (neutral assumed)")
                + "; give each charged frame its total charge (data.keys.total_charge, default key 'total_charge')"
            )
    b_energy = _lookup(atoms, keys.baseline_energy, per_atom=False)
    b_forces = _lookup(atoms, keys.baseline_forces, per_atom=True)
    b_stress = _lookup(atoms, keys.baseline_stress, per_atom=False)
    for key, value in ((keys.baseline_energy, b_energy), (keys.baseline_forces, b_forces), (keys.baseline_stress, b_stress)):
        if key is not None and value is None:
            raise DataError(f"{source}: baseline label {key!r} (data.keys) is missing from this frame")
    if b_forces is not None and b_forces.shape != (n, 3):
        raise DataError(f"{source}: baseline forces {keys.baseline_forces!r} have shape {b_forces.shape}, expected ({n}, 3)")
    frame = Frame(
        numbers=np.asarray(atoms.numbers, dtype=np.int64),
        positions=positions,
        cell=cell,
        pbc=np.asarray(atoms.pbc, dtype=bool),
        energy=energy,
        forces=forces,
        stress=stress,
        charges=charges,
        dipole=None if dipole is None else dipole.reshape(3),
        total_charge=0.0 if total_charge is None else float(total_charge),
        weight=1.0 if weight is None else float(weight),
        source=source,
        info={k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))},
        baseline_energy=None if b_energy is None else float(b_energy.reshape(())) * e_unit,
        baseline_forces=None if b_forces is None else b_forces * (e_unit / l_unit),
        baseline_stress=None if b_stress is None else _stress_3x3(b_stress, source) * (e_unit / l_unit**3),
    )
    check_frame(frame)
    return frame


def check_frame(frame: Frame, known_atomic_numbers: Optional[Sequence[int]] = None) -> None:
    """Raise DataError naming ``frame.source`` if the frame is unusable."""
    where = frame.source
    if not np.isfinite(frame.positions).all():
        raise DataError(f"{where}: positions contain NaN or inf")
    for name in ("forces", "stress", "charges", "dipole"):
        v = getattr(frame, name)
        if v is not None and not np.isfinite(v).all():
            raise DataError(f"{where}: {name} contain NaN or inf")
    if frame.energy is not None and not np.isfinite(frame.energy):
        raise DataError(f"{where}: energy is not finite")
    if frame.weight < 0:
        raise DataError(f"{where}: negative weight {frame.weight}")
    if known_atomic_numbers is not None:
        unknown = sorted(set(frame.numbers.tolist()) - set(int(z) for z in known_atomic_numbers))
        if unknown:
            from ase.data import chemical_symbols

            raise DataError(f"{where}: element(s) {[chemical_symbols[z] for z in unknown]} not in the model's elements")
    if frame.n_atoms > 1:
        from ase.neighborlist import neighbor_list

        i, j, d = neighbor_list("ijd", frame.to_atoms(), MIN_DISTANCE_A)
        if len(i):
            raise DataError(f"{where}: atoms {int(i[0])} and {int(j[0])} are {float(d[0]):.3g} Å apart (duplicate atoms)")


def read_images(path: str, index: str = ":") -> list:
    """The ``ase.Atoms`` of an ASE-readable file (DataError for a missing, unreadable or empty file)."""
    import ase.io

    if not os.path.exists(path):
        raise DataError(f"{path}: no such data file")
    try:
        images = ase.io.read(path, index=index)
    except Exception as exc:
        raise DataError(f"{path}: could not be parsed as an ASE-readable structure file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(images, list):
        images = [images]
    if not images:
        raise DataError(f"{path}: contains no frames")
    return images


def read_frames(path: str, keys: DataKeys = DataKeys(), index: str = ":") -> List[Frame]:
    """Read labelled frames from an ASE-readable file (extxyz, ASE db, traj, ...).

    Raises:
        DataError: missing or malformed file (with the parser's message), or a bad frame
            (named as ``path:index``).
    """
    return [frame_from_atoms(a, keys, f"{path}:{k}") for k, a in enumerate(read_images(path, index))]
