"""Radial distribution function g(r), total and per element pair, of a periodic trajectory.

Distances are counted over *all* periodic images up to ``r_max_A`` (Å), not just the
minimum image, so any ``r_max_A`` is right for any triclinic cell, small ones included (in a
cell narrower than 2·r_max an atom also sees its own images; they are real neighbours of the
periodic system). Image shifts n are bounded exactly: a pair whose minimum-image fractional
separation is Δs (|Δs_k| ≤ 1/2) can only be within r_max for |n_k| ≤ r_max/h_k + 1/2, with
h_k the spacing of lattice planes k. When r_max < h_min/2 that is the minimum image alone.

Normalisation (the convention of mdtraj, cpptraj and gromacs): for elements a, b,

    g_ab(r) = C_ab(r) / [N_a (N_b - δ_ab) Σ_frames(1/V) · 4π/3 (r_hi³ - r_lo³)]

with C_ab the ordered (i in a, j in b, j ≠ i or a nonzero image) pair count in the bin, so
an ideal gas gives g = 1. The number of b neighbours of an a atom within R is
:meth:`RDFResult.coordination_number` (straight from the counts) = ∫ 4π r² ρ_ab g_ab dr with
ρ_ab = ``density_per_A3[pair]``. The pair histogram is a numba kernel, O(N² × images) per
frame, compiled on first use (``cache=False``: nothing is written, so a read-only install
works; compiling takes a few seconds once per process).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from md.analysis.numba_kernel import lazy_njit

from md.analysis.trajectory_frames import AnalysisError, Frame, iter_frames, plane_spacings_A

DEFAULT_R_MAX_A = 8.0
DEFAULT_BINS = 200
MAX_IMAGES = 20_000



def _pair_histogram_py(fractional, cell, species, images, r_max_A, hist):  # pragma: no cover - compiled
    """Add the ordered pair distances < r_max_A (Å) of one frame to ``hist[a, b, bin]``.

    fractional: (n, 3) fractional positions; cell: (3, 3) Å, rows = lattice vectors; species:
    (n,) element index; images: (m, 3) integer shifts (as floats) containing (0, 0, 0).
    """
    n = fractional.shape[0]
    n_bins = hist.shape[2]
    inv_width = n_bins / r_max_A
    r_max2 = r_max_A * r_max_A
    for i in range(n):
        a = species[i]
        for j in range(i, n):
            b = species[j]
            d0 = fractional[j, 0] - fractional[i, 0]
            d1 = fractional[j, 1] - fractional[i, 1]
            d2 = fractional[j, 2] - fractional[i, 2]
            d0 -= math.floor(d0 + 0.5)
            d1 -= math.floor(d1 + 0.5)
            d2 -= math.floor(d2 + 0.5)
            for k in range(images.shape[0]):
                f0 = d0 + images[k, 0]
                f1 = d1 + images[k, 1]
                f2 = d2 + images[k, 2]
                if i == j and f0 == 0.0 and f1 == 0.0 and f2 == 0.0:
                    continue  # an atom is not its own neighbour (its images are)
                x = f0 * cell[0, 0] + f1 * cell[1, 0] + f2 * cell[2, 0]
                y = f0 * cell[0, 1] + f1 * cell[1, 1] + f2 * cell[2, 1]
                z = f0 * cell[0, 2] + f1 * cell[1, 2] + f2 * cell[2, 2]
                r2 = x * x + y * y + z * z
                if r2 < r_max2:
                    index = int(math.sqrt(r2) * inv_width)
                    if index < n_bins:
                        if i == j:
                            hist[a, a, index] += 1  # the image -n comes in its own turn of k
                        else:
                            hist[a, b, index] += 1
                            hist[b, a, index] += 1


pair_histogram_kernel = lazy_njit(_pair_histogram_py)


def image_shifts(cell_A: np.ndarray, r_max_A: float) -> np.ndarray:
    """Integer lattice shifts (m, 3) that can bring a minimum-image pair of ``cell_A`` (Å) within
    ``r_max_A`` (Å): |n_k| ≤ floor(r_max/h_k + 1/2), h_k the lattice-plane spacings."""
    bound = np.floor(r_max_A / plane_spacings_A(cell_A) + 0.5).astype(int)
    if np.prod(2 * bound + 1) > MAX_IMAGES:
        raise AnalysisError(f"r_max {r_max_A} Å spans {np.prod(2 * bound + 1)} periodic images of this cell "
                            f"(plane spacings {np.round(plane_spacings_A(cell_A), 2).tolist()} Å); use a smaller r_max")
    ranges = [np.arange(-m, m + 1) for m in bound]
    return np.array(np.meshgrid(*ranges, indexing="ij")).reshape(3, -1).T.astype(np.float64).copy()


def element_symbol(z: int) -> str:
    """Chemical symbol of atomic number ``z``."""
    from ase.data import chemical_symbols

    return chemical_symbols[int(z)] if 0 < int(z) < len(chemical_symbols) else f"Z{int(z)}"


@dataclass
class RDFResult:
    """g(r) averaged over frames.

    Attributes:
        r_A: bin centres, Å.
        edges_A: bin edges (n_bins + 1), Å.
        g: ``"total"`` and ``"A-B"`` (element symbols, A ≤ B in atomic number) -> g(r).
        counts: same keys -> ordered pair counts per bin, summed over frames.
        density_per_A3: same keys -> ρ_ab = (N_b - δ_ab)/V averaged over frames, Å⁻³ (with it
            ∫ 4π r² ρ g dr is the coordination number).
        n_atoms_A: same keys -> N_a, the number of centre atoms.
        n_frames: frames averaged.
        r_max_A: largest distance, Å.
        n_images: periodic images searched in the last frame (1 = minimum image only).
    """

    r_A: np.ndarray
    edges_A: np.ndarray
    g: Dict[str, np.ndarray]
    counts: Dict[str, np.ndarray]
    density_per_A3: Dict[str, float]
    n_atoms_A: Dict[str, int]
    n_frames: int
    r_max_A: float
    n_images: int = 1
    elements: List[str] = field(default_factory=list)

    def coordination_number(self, pair: str = "total", r_A: Optional[float] = None) -> float:
        """Mean number of neighbours (of the pair's second element) of an atom (of its first)
        within ``r_A`` Å (rounded to the bin edge at or below it; default r_max)."""
        upto = len(self.r_A) if r_A is None else int(np.searchsorted(self.edges_A, r_A, side="right") - 1)
        return float(self.counts[pair][:max(upto, 0)].sum() / (self.n_atoms_A[pair] * self.n_frames))

    def first_peak_A(self, pair: str = "total") -> float:
        """Position of the highest g(r) maximum, Å (the first peak of a liquid or a crystal)."""
        return float(self.r_A[int(np.argmax(self.g[pair]))])


class RDFAccumulator:
    """Accumulate g(r) frame by frame (bounded memory: a histogram per element pair).

    Args:
        r_max_A: largest distance, Å (any value; images are handled, see the module doc).
        n_bins: number of bins of width r_max_A / n_bins Å.
        start_fs: ignore frames before this time, fs (equilibration).
        stride: use every stride-th frame (after start_fs).
    """

    def __init__(self, r_max_A: float = DEFAULT_R_MAX_A, n_bins: int = DEFAULT_BINS, start_fs: float = 0.0,
                 stride: int = 1) -> None:
        if not (r_max_A > 0 and math.isfinite(r_max_A)):
            raise AnalysisError(f"r_max_A must be a positive distance in Å, got {r_max_A}")
        if int(n_bins) < 1 or int(stride) < 1:
            raise AnalysisError(f"n_bins and stride must be positive integers, got {n_bins} and {stride}")
        self.r_max_A, self.n_bins = float(r_max_A), int(n_bins)
        self.start_fs, self.stride = float(start_fs), int(stride)
        self._seen = 0
        self._numbers: Optional[np.ndarray] = None
        self._hist: Optional[np.ndarray] = None
        self._inverse_volume_sum = 0.0
        self._n_frames = 0
        self._n_images = 1

    def add(self, frame: Frame) -> None:
        """Count the pairs of one :class:`Frame` (a fully periodic one)."""
        if frame.time_fs < self.start_fs:
            return
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        if not np.all(frame.pbc):
            raise AnalysisError("g(r) needs a cell periodic in all three directions (its density is N/V); this "
                                f"trajectory has pbc={np.asarray(frame.pbc).tolist()}")
        if self._numbers is None:
            self._numbers = np.asarray(frame.numbers, dtype=np.int64).copy()
            self._elements = np.unique(self._numbers)
            self._species = np.searchsorted(self._elements, self._numbers).astype(np.int64)
            self._hist = np.zeros((len(self._elements),) * 2 + (self.n_bins,), dtype=np.int64)
        elif not np.array_equal(frame.numbers, self._numbers):
            raise AnalysisError(f"frame at {frame.time_fs} fs has different atoms than the first frame")
        cell = np.ascontiguousarray(frame.cell_A, dtype=np.float64)
        volume = abs(np.linalg.det(cell))
        if not volume > 1e-9:
            raise AnalysisError(f"frame at {frame.time_fs} fs has a degenerate cell (volume {volume:.3g} Å³)")
        fractional = np.ascontiguousarray(np.linalg.solve(cell.T, np.asarray(frame.positions_A, np.float64).T).T)
        images = image_shifts(cell, self.r_max_A)
        pair_histogram_kernel()(fractional, cell, self._species, images, self.r_max_A, self._hist)
        self._inverse_volume_sum += 1.0 / volume
        self._n_frames += 1
        self._n_images = len(images)

    def result(self) -> RDFResult:
        """The g(r) of the frames added so far."""
        if self._n_frames == 0:
            raise AnalysisError("no frames to compute g(r) from (empty trajectory, or start_fs after its end)")
        edges = np.linspace(0.0, self.r_max_A, self.n_bins + 1)
        shell = 4.0 / 3.0 * math.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        counts_of_element = np.array([np.sum(self._species == s) for s in range(len(self._elements))])
        symbols = [element_symbol(z) for z in self._elements]
        g, counts, density, centres = {}, {}, {}, {}

        def add(key: str, count: np.ndarray, n_a: int, n_b_other: int, n_b: int) -> None:
            pairs = n_a * n_b_other if n_a * n_b_other > 0 else n_a * n_b  # one atom: only its images
            g[key] = count / (pairs * self._inverse_volume_sum * shell)
            counts[key] = count
            density[key] = pairs / n_a * self._inverse_volume_sum / self._n_frames
            centres[key] = int(n_a)

        n = int(counts_of_element.sum())
        add("total", self._hist.sum(axis=(0, 1)), n, n - 1, n)
        for a in range(len(symbols)):
            for b in range(a, len(symbols)):
                n_a, n_b = int(counts_of_element[a]), int(counts_of_element[b])
                add(f"{symbols[a]}-{symbols[b]}", self._hist[a, b].copy(), n_a, n_b - (a == b), n_b)
        return RDFResult(0.5 * (edges[1:] + edges[:-1]), edges, g, counts, density, centres, self._n_frames,
                         self.r_max_A, self._n_images, symbols)


def rdf(frames: Union[str, Iterable[Frame]], r_max_A: float = DEFAULT_R_MAX_A, n_bins: int = DEFAULT_BINS,
        start_fs: float = 0.0, stride: int = 1) -> RDFResult:
    """g(r) of a trajectory: ``frames`` is a run folder or trajectory file (streamed with
    :func:`~md.analysis.trajectory_frames.iter_frames`) or an iterable of
    :class:`~md.analysis.trajectory_frames.Frame`. Distances in Å, times in fs; see
    :class:`RDFAccumulator` for the arguments and :class:`RDFResult` for what comes back."""
    accumulator = RDFAccumulator(r_max_A, n_bins, start_fs, stride)
    for frame in (iter_frames(frames) if isinstance(frames, str) else frames):
        accumulator.add(frame)
    return accumulator.result()


def rdf_of_positions(positions_A: np.ndarray, cell_A: np.ndarray, numbers: Optional[np.ndarray] = None,
                     r_max_A: float = DEFAULT_R_MAX_A, n_bins: int = DEFAULT_BINS) -> RDFResult:
    """g(r) of one periodic configuration (positions and cell in Å; all atoms one element
    unless ``numbers`` are given)."""
    positions_A = np.asarray(positions_A, dtype=np.float64)
    numbers = np.ones(len(positions_A), dtype=np.int64) if numbers is None else np.asarray(numbers)
    frame = Frame(positions_A, np.asarray(cell_A, dtype=np.float64), np.ones(3, dtype=bool), numbers, 0.0)
    return rdf([frame], r_max_A, n_bins)


def pair_keys(result: RDFResult) -> Tuple[str, ...]:
    """The partial keys of ``result`` (``"A-B"``), without ``"total"``."""
    return tuple(k for k in result.g if k != "total")
