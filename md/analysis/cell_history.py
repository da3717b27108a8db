"""Cell, volume and density over a trajectory, with means and block-averaging errors.

Per frame: volume V = |det(cell)|, Å³; density ρ = M / V in g/cm³ (M the total mass in amu,
1 amu/Å³ = 1.66054 g/cm³, from ASE's amu); lattice lengths a, b, c (Å) and angles α (b∧c),
β (a∧c), γ (a∧b) in degrees. The series is kept (10 floats per frame) so the mean and its
error can be computed at the end: frames from ``start_fs`` on (equilibration left out) are cut
into ``n_blocks`` consecutive blocks of equal length (the remainder at the start is left
out), and the error is std(block means)/√n_blocks — the standard error of the mean when the
blocks are longer than the correlation time of the quantity. A constant cell (NVE, NVT)
gives zero error. Only frames periodic in all three directions have a volume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Union

import numpy as np

from md.analysis.trajectory_frames import AnalysisError, Frame, frame_masses_amu, iter_frames

QUANTITIES = ("volume_A3", "density_g_per_cm3", "a_A", "b_A", "c_A", "alpha_deg", "beta_deg", "gamma_deg")


def amu_per_A3_in_g_per_cm3() -> float:
    """1 amu/Å³ in g/cm³ (≈ 1.66054; ASE's atomic mass unit)."""
    import ase.units

    return float(ase.units._amu) * 1e3 / 1e-24


def density_g_per_cm3(total_mass_amu: float, volume_A3: float) -> float:
    """Mass density, g/cm³, of ``total_mass_amu`` (amu) in ``volume_A3`` (Å³)."""
    return float(total_mass_amu) / float(volume_A3) * amu_per_A3_in_g_per_cm3()


def cell_parameters(cell_A: np.ndarray):
    """(lengths (3,) Å, angles (3,) degrees) of a cell, rows = lattice vectors a, b, c (Å);
    angles α = ∠(b, c), β = ∠(a, c), γ = ∠(a, b)."""
    cell = np.asarray(cell_A, dtype=np.float64)
    lengths = np.linalg.norm(cell, axis=1)
    angles = []
    for i, j in ((1, 2), (0, 2), (0, 1)):
        cosine = np.dot(cell[i], cell[j]) / (lengths[i] * lengths[j])
        angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cosine)))))
    return lengths, np.array(angles)


def block_mean_error(values: np.ndarray, n_blocks: int):
    """(mean, block standard error) of ``values``: mean of all, and std(means of ``n_blocks``
    equal consecutive blocks, remainder at the start left out)/√n_blocks (NaN if too few)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if len(values) else math.nan
    size = len(values) // n_blocks if n_blocks >= 2 else 0
    if size < 1:
        return mean, math.nan
    blocks = values[len(values) - size * n_blocks:].reshape(n_blocks, size).mean(axis=1)
    return mean, float(np.std(blocks, ddof=1) / math.sqrt(n_blocks))


@dataclass
class CellHistory:
    """Per-frame cell data of a trajectory.

    Attributes:
        time_fs: frame times, fs.
        series: quantity -> per-frame values; quantities are ``volume_A3`` (Å³),
            ``density_g_per_cm3`` (g/cm³), ``a_A``, ``b_A``, ``c_A`` (Å), ``alpha_deg``,
            ``beta_deg``, ``gamma_deg`` (degrees).
        total_mass_amu: mass of the atoms, amu.
        n_atoms: number of atoms.
        start_fs: statistics use frames from this time on, fs.
        n_blocks: blocks of the error estimate.
        notes: limits of the statistics, in words.
    """

    time_fs: np.ndarray
    series: Dict[str, np.ndarray]
    total_mass_amu: float
    n_atoms: int
    start_fs: float = 0.0
    n_blocks: int = 5
    notes: List[str] = field(default_factory=list)

    def statistics(self) -> Dict[str, Dict[str, float]]:
        """quantity -> {"mean", "error"} (block standard error) over frames from ``start_fs`` on;
        units as in :attr:`series`."""
        used = self.time_fs >= self.start_fs
        return {name: dict(zip(("mean", "error"), block_mean_error(values[used], self.n_blocks)))
                for name, values in self.series.items()}


class CellAccumulator:
    """Collect the cell of every frame (fully periodic frames only).

    Args:
        start_fs: statistics from this time on, fs (equilibration left out; the series keeps all).
        n_blocks: blocks of the error estimate (≥ 2).
    """

    def __init__(self, start_fs: float = 0.0, n_blocks: int = 5) -> None:
        if int(n_blocks) < 2:
            raise AnalysisError(f"n_blocks must be at least 2, got {n_blocks}")
        self.start_fs, self.n_blocks = float(start_fs), int(n_blocks)
        self._rows: List[List[float]] = []
        self._mass = None
        self._n_atoms = 0

    def add(self, frame: Frame) -> None:
        """Record the cell of one :class:`Frame` (periodic in all three directions)."""
        if not np.all(frame.pbc):
            raise AnalysisError("volume and density need a cell periodic in all three directions; this trajectory "
                                f"has pbc={np.asarray(frame.pbc).tolist()}")
        if self._mass is None:
            self._mass = float(frame_masses_amu(frame).sum())
            self._n_atoms = len(frame.numbers)
        volume = abs(float(np.linalg.det(np.asarray(frame.cell_A, dtype=np.float64))))
        if not volume > 1e-9:
            raise AnalysisError(f"frame at {frame.time_fs} fs has a degenerate cell (volume {volume:.3g} Å³)")
        lengths, angles = cell_parameters(frame.cell_A)
        self._rows.append([float(frame.time_fs), volume, density_g_per_cm3(self._mass, volume), *lengths, *angles])

    def result(self) -> CellHistory:
        """The :class:`CellHistory` of the frames added so far."""
        if not self._rows:
            raise AnalysisError("no frames to follow the cell over")
        table = np.array(self._rows)
        history = CellHistory(table[:, 0], {name: table[:, k + 1] for k, name in enumerate(QUANTITIES)},
                              self._mass, self._n_atoms, self.start_fs, self.n_blocks)
        used = int(np.sum(history.time_fs >= self.start_fs))
        if used < 2 * self.n_blocks:
            history.notes.append(f"only {used} frames from {self.start_fs:g} fs on for {self.n_blocks} blocks: "
                                 "errors are missing or rough")
        return history


def cell_history(frames: Union[str, Iterable[Frame]], start_fs: float = 0.0, n_blocks: int = 5) -> CellHistory:
    """Volume (Å³), density (g/cm³), cell lengths (Å) and angles (degrees) of every frame of a
    run folder, trajectory file or iterable of :class:`~md.analysis.trajectory_frames.Frame`."""
    accumulator = CellAccumulator(start_fs, n_blocks)
    for frame in (iter_frames(frames) if isinstance(frames, str) else frames):
        accumulator.add(frame)
    return accumulator.result()
