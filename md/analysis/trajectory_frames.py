"""Stream the frames of an ``mlip md`` trajectory, one at a time, without loading the file whole.

A :class:`Frame` holds positions (Å), the cell (Å, rows = lattice vectors), pbc, the atomic
numbers and the time (fs), and where the file has them velocities (Å/fs) and masses (amu).
Readers:

* ``trajectory.extxyz`` / ``.xyz`` / ``.traj``: ``ase.io.iread``; the time is the frame's
  ``info["time_fs"]`` written by :func:`md.frames.atoms_from_state`. ``mlip md`` also writes
  masses and momenta (ASE units, amu·Å per ASE time unit); velocities are converted to Å/fs
  here (``mlip.units.ASE_TIME_UNIT_IN_FS``).
* ``trajectory.dcd`` / ``.xtc`` with the ``trajectory.pdb`` topology beside it:
  ``mdtraj.iterload`` in chunks. mdtraj works in nm (positions and ``unitcell_vectors``);
  they are converted to Å here. XTC carries the time (ps); DCD as ``mlip md`` writes it does
  not, so its frame times come from the run's ``config.yaml`` (``timestep_fs`` ×
  ``trajectory_interval``) or from ``frame_interval_fs``. Neither carries velocities; masses
  are ASE's standard atomic masses.

``mlip md`` writes *wrapped* positions (folded into the cell, see :mod:`md.frames`).
:class:`Unwrapper` undoes that for displacement analyses (MSD): between consecutive frames
each atom moves by the minimum-image fractional displacement. That is only right while every
atom moves less than half a cell per frame; a frame-to-frame fractional step above
``max_step_fraction`` (0.4 by default) along a periodic axis raises :class:`UnwrapError`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np

from mlip import units
from mlip.errors import DataError

ASE_SUFFIXES = (".extxyz", ".xyz", ".traj")
MDTRAJ_SUFFIXES = (".dcd", ".xtc")
#: trajectory files of a run folder, in order of preference (float64 before float32/xtc's 0.01 Å)
RUN_TRAJECTORIES = ("trajectory.extxyz", "trajectory.traj", "trajectory.dcd", "trajectory.xtc", "trajectory.xyz")
NM_IN_A = 10.0
PS_IN_FS = 1000.0


class AnalysisError(DataError):
    """A trajectory cannot be analysed as asked (wrong file, too few frames, bad settings)."""


class MissingTrajectoryError(AnalysisError, FileNotFoundError):
    """The run folder, the trajectory or its topology does not exist."""


class UnwrapError(AnalysisError):
    """Frames are too far apart in time to unwrap positions across cell boundaries."""


@dataclass(frozen=True)
class Frame:
    """One trajectory frame.

    Attributes:
        positions_A: (n_atoms, 3) positions, Å (float64).
        cell_A: (3, 3) cell, Å, rows = lattice vectors (zeros when not periodic).
        pbc: (3,) bool, periodic directions.
        numbers: (n_atoms,) atomic numbers.
        time_fs: simulation time of the frame, fs.
        velocities_A_per_fs: (n_atoms, 3) velocities, Å/fs, or None when the file has none.
        masses_amu: (n_atoms,) masses, amu, or None (then :func:`frame_masses_amu` uses ASE's
            standard atomic masses).
    """

    positions_A: np.ndarray
    cell_A: np.ndarray
    pbc: np.ndarray
    numbers: np.ndarray
    time_fs: float
    velocities_A_per_fs: Optional[np.ndarray] = None
    masses_amu: Optional[np.ndarray] = None

    @property
    def volume_A3(self) -> float:
        """Cell volume, Å³ (only meaningful when all three directions are periodic)."""
        return float(abs(np.linalg.det(self.cell_A)))


def frame_masses_amu(frame: Frame) -> np.ndarray:
    """Masses (n_atoms,) of ``frame``, amu: its own, else ASE's standard atomic masses."""
    if frame.masses_amu is not None:
        return np.asarray(frame.masses_amu, dtype=np.float64)
    from ase.data import atomic_masses

    return np.asarray(atomic_masses[np.asarray(frame.numbers, dtype=np.int64)], dtype=np.float64)


def plane_spacings_A(cell_A: np.ndarray) -> np.ndarray:
    """Distances between the lattice planes of the three directions of ``cell_A`` (Å; rows =
    lattice vectors): 1/|b_k| for the reciprocal vectors b_k. A sphere of radius r fits in
    the cell without touching its own images when 2r is below the smallest spacing."""
    reciprocal = np.linalg.inv(np.asarray(cell_A, dtype=np.float64)).T
    return 1.0 / np.linalg.norm(reciprocal, axis=1)


def find_trajectory(run_dir: str) -> str:
    """The trajectory file of an ``mlip md`` output folder ``run_dir`` (extxyz preferred, then
    traj, dcd, xtc); a trajectory file given directly is returned as is."""
    if os.path.isfile(run_dir):
        return run_dir
    if not os.path.isdir(run_dir):
        raise MissingTrajectoryError(f"run folder {run_dir!r} does not exist; give the --output folder of an "
                                     "`mlip md` run (or a trajectory file)")
    for name in RUN_TRAJECTORIES:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            return path
    raise MissingTrajectoryError(f"{run_dir!r} holds no trajectory (looked for {', '.join(RUN_TRAJECTORIES)}); "
                                 "was the run written with trajectory_formats set, and did it reach a frame?")


def _run_config(path: str) -> dict:
    """The settings in the ``config.yaml`` beside ``path`` (an ``mlip md`` run), or {}."""
    config = os.path.join(os.path.dirname(os.path.abspath(path)), "config.yaml")
    if not os.path.isfile(config):
        return {}
    import yaml

    with open(config, encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    return values if isinstance(values, dict) else {}


def _run_timestep_fs(path: str) -> Optional[float]:
    """The run's MD time step, fs (``config.yaml``; 1 fs is mlip md's default), or None."""
    values = _run_config(path)
    value = values.get("timestep_fs", 1.0) if values else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _run_frame_interval_fs(path: str) -> Optional[float]:
    """``timestep_fs × trajectory_interval`` (fs) from the run's ``config.yaml``, or None."""
    timestep_fs = _run_timestep_fs(path)
    interval = _run_config(path).get("trajectory_interval", 100)
    if timestep_fs is None or not isinstance(interval, int):
        return None
    return timestep_fs * interval


def iter_frames(path: str, topology: Optional[str] = None, frame_interval_fs: Optional[float] = None,
                chunk: int = 100) -> Iterator[Frame]:
    """Yield the :class:`Frame` s of a trajectory file one by one (Å, fs).

    Args:
        path: ``.extxyz``/``.xyz``/``.traj`` (ASE) or ``.dcd``/``.xtc`` (mdtraj), or an ``mlip
            md`` output folder (its trajectory is picked by :func:`find_trajectory`).
        topology: PDB topology for DCD/XTC (default: the file with ``.pdb`` instead).
        frame_interval_fs: time between frames, fs, for files that carry no time (DCD, or
            extxyz without ``time_fs``); default from the run's ``config.yaml``.
        chunk: frames mdtraj reads at once (memory: chunk × n_atoms × 12 bytes).
    """
    path = find_trajectory(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in ASE_SUFFIXES:
        yield from _ase_frames(path, frame_interval_fs)
    elif suffix in MDTRAJ_SUFFIXES:
        yield from _mdtraj_frames(path, topology, frame_interval_fs, chunk)
    else:
        raise AnalysisError(f"cannot read trajectory {path!r}: suffix {suffix!r} is none of "
                            f"{ASE_SUFFIXES + MDTRAJ_SUFFIXES}")


def _interval_or_error(path: str, frame_interval_fs: Optional[float]) -> float:
    interval = frame_interval_fs if frame_interval_fs is not None else _run_frame_interval_fs(path)
    if interval is None or not (interval > 0 and math.isfinite(interval)):
        raise AnalysisError(f"{path!r} carries no frame times and no config.yaml is beside it; give the time "
                            "between frames (frame_interval_fs / --frame-interval-fs), in fs")
    return float(interval)


def _ase_frames(path: str, frame_interval_fs: Optional[float]) -> Iterator[Frame]:
    import ase.io

    interval = None
    try:
        for k, atoms in enumerate(ase.io.iread(path, index=":")):
            time_fs = atoms.info.get("time_fs")
            if time_fs is None:
                interval = interval or _interval_or_error(path, frame_interval_fs)
                time_fs = k * interval
            velocities = None
            if "momenta" in atoms.arrays:  # ASE units (Å per ASE time unit) -> Å/fs
                velocities = np.array(atoms.get_velocities(), dtype=np.float64) / units.ASE_TIME_UNIT_IN_FS
            yield Frame(np.array(atoms.positions, dtype=np.float64), np.array(atoms.cell[:], dtype=np.float64),
                        np.array(atoms.pbc, dtype=bool), np.array(atoms.numbers, dtype=np.int64), float(time_fs),
                        velocities, np.array(atoms.get_masses(), dtype=np.float64))
    except AnalysisError:
        raise
    except Exception as error:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise AnalysisError(f"cannot read trajectory {path!r}: {error}") from None


def _mdtraj_frames(path: str, topology: Optional[str], frame_interval_fs: Optional[float],
                   chunk: int) -> Iterator[Frame]:
    import mdtraj

    topology = topology or os.path.splitext(path)[0] + ".pdb"
    if not os.path.isfile(topology):
        raise MissingTrajectoryError(f"{path!r} needs its topology {topology!r} (written by `mlip md` beside "
                                     "DCD/XTC trajectories); it does not exist")
    is_xtc = path.lower().endswith(".xtc")
    interval = None if is_xtc else _interval_or_error(path, frame_interval_fs)
    timestep_fs = _run_timestep_fs(path) if is_xtc else None
    try:
        numbers = np.array([a.element.atomic_number for a in mdtraj.load_topology(topology).atoms], dtype=np.int64)
        index = 0
        for piece in mdtraj.iterload(path, top=topology, chunk=chunk):
            boxes = piece.unitcell_vectors
            for k in range(piece.n_frames):
                if boxes is None:
                    cell, pbc = np.zeros((3, 3)), np.zeros(3, dtype=bool)
                else:
                    cell, pbc = boxes[k].astype(np.float64) * NM_IN_A, np.ones(3, dtype=bool)
                if is_xtc:
                    time_fs = float(piece.time[k]) * PS_IN_FS  # float32 ps: snap to the step grid
                    if timestep_fs:
                        time_fs = round(time_fs / timestep_fs) * timestep_fs
                else:
                    time_fs = index * interval
                yield Frame(piece.xyz[k].astype(np.float64) * NM_IN_A, cell, pbc, numbers, time_fs)
                index += 1
    except AnalysisError:
        raise
    except Exception as error:  # noqa: BLE001 - mdtraj raises many types for unreadable files
        raise AnalysisError(f"cannot read trajectory {path!r} with topology {topology!r}: {error}") from None


class Unwrapper:
    """Turn wrapped positions of consecutive frames into continuous (unwrapped) ones, Å.

    Each frame's fractional displacement from the previous frame is reduced to the minimum
    image along periodic axes (fractional-coordinate unwrapping; works for triclinic and
    changing cells). Valid while atoms move less than half a cell per frame.

    Args:
        max_step_fraction: largest allowed minimum-image step per frame as a fraction of the
            cell along each periodic axis; a larger one raises :class:`UnwrapError` (a step
            near 0.5 is ambiguous, and beyond 0.5 it aliases into a wrong, shorter one).
    """

    def __init__(self, max_step_fraction: float = 0.4) -> None:
        if not 0.0 < max_step_fraction < 0.5:
            raise AnalysisError(f"max_step_fraction must be in (0, 0.5), got {max_step_fraction}")
        self.max_step_fraction = float(max_step_fraction)
        self._fractional: Optional[np.ndarray] = None
        self._unwrapped: Optional[np.ndarray] = None
        self._time_fs: Optional[float] = None

    def __call__(self, frame: Frame) -> np.ndarray:
        """The unwrapped positions (n_atoms, 3), Å, of ``frame`` (the next frame in time)."""
        pbc = np.asarray(frame.pbc, dtype=bool)
        if not pbc.any():
            self._unwrapped = np.array(frame.positions_A, dtype=np.float64)
            self._time_fs = frame.time_fs
            return self._unwrapped
        cell = np.array(frame.cell_A, dtype=np.float64)
        cell_full = cell.copy()
        for axis in np.flatnonzero(~pbc):  # give non-periodic axes a unit vector so the cell inverts
            if not np.any(cell_full[axis]):
                cell_full[axis, axis] = 1.0
        fractional = np.linalg.solve(cell_full.T, np.asarray(frame.positions_A, dtype=np.float64).T).T
        if self._unwrapped is None:
            self._unwrapped = np.array(frame.positions_A, dtype=np.float64)
        else:
            if fractional.shape != self._fractional.shape:
                raise AnalysisError(f"frame at {frame.time_fs} fs has {len(fractional)} atoms, the previous one "
                                    f"{len(self._fractional)}; the trajectory must keep its atoms")
            step = fractional - self._fractional
            step[:, pbc] -= np.round(step[:, pbc])
            largest = float(np.max(np.abs(step[:, pbc]))) if len(step) else 0.0
            if largest > self.max_step_fraction:
                atom, axis = np.unravel_index(np.argmax(np.abs(step[:, pbc])), step[:, pbc].shape)
                raise UnwrapError(
                    f"frames at {self._time_fs} fs and {frame.time_fs} fs are too far apart to unwrap positions: "
                    f"atom {atom} moved {largest:.2f} of the cell along periodic axis {int(np.flatnonzero(pbc)[axis])} "
                    f"(limit {self.max_step_fraction}; at 0.5 the jump across the boundary is ambiguous). Write "
                    "frames more often (smaller trajectory_interval) for MSD/diffusion")
            self._unwrapped = self._unwrapped + step @ cell_full
        self._fractional = fractional
        self._time_fs = frame.time_fs
        return self._unwrapped



class EvenFrameTimes:
    """The frame times (fs) of one run, which must be evenly spaced: a frame off the grid is
    held back and left out if it is the last one (a run stopped early), an error otherwise.

    ``quantity`` names what needs the constant spacing, for the error messages."""

    def __init__(self, quantity: str) -> None:
        self.quantity = quantity
        self.times_fs: List[float] = []
        self.held: Optional[Frame] = None

    def accept(self, frame: Frame) -> bool:
        """Record ``frame``'s time; False when it is off the grid (held back for now)."""
        times = self.times_fs
        if self.held is not None:
            raise AnalysisError(f"frames are not evenly spaced in time: {times[-1]} fs -> {self.held.time_fs} fs -> "
                                f"{frame.time_fs} fs (spacing {self.interval_fs} fs); {self.quantity} needs a "
                                "constant spacing")
        if len(times) >= 2:
            if abs(frame.time_fs - times[-1] - self.interval_fs) > 1e-6 * self.interval_fs:
                self.held = frame
                return False
        elif len(times) == 1 and not frame.time_fs > times[0]:
            raise AnalysisError(f"frame times do not increase ({times[0]} fs -> {frame.time_fs} fs); is this one "
                                "run's trajectory?")
        times.append(float(frame.time_fs))
        return True

    @property
    def interval_fs(self) -> float:
        """The spacing of the frames, fs (needs two frames)."""
        return self.times_fs[1] - self.times_fs[0]

    def dropped_note(self) -> Optional[str]:
        """The note on a last frame left out, or None."""
        if self.held is None:
            return None
        return f"last frame ({self.held.time_fs} fs) is off the {self.interval_fs} fs grid: left out"
