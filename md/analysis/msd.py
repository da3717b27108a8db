"""Mean-squared displacement MSD(t) and the self-diffusion coefficient D, streamed.

**Method: a ring buffer of the last K frames (every frame a time origin).** Each new frame t
is compared with the K-1 frames before it, so MSD(τ) for lags τ < K averages over *all*
origins, with memory K × N × 24 bytes whatever the trajectory length (K = ``max_lag_frames``,
reduced to fit ``max_buffer_MB``) and cost O(T·K·N), done by a numba kernel. The FFT method
costs O(T log T) per atom but needs each atom's whole trajectory at once (T × N × 24 bytes,
unbounded, or re-reading the file per group of atoms); the ring buffer streams in one pass
and the kernel makes its direct sum fast enough (see docs/md.md for timings).

Positions are unwrapped first (:class:`~md.analysis.trajectory_frames.Unwrapper`); the
centre of mass is not removed. Frames must be evenly spaced in time; a last frame off the
grid (a run stopped by an instability writes its last good state) is dropped.

**D** (Å²/fs; ×0.1 for cm²/s) = slope/6 of a straight-line fit of the total MSD over the
lags ``[fit_start_fs, fit_end_fs]``. **Error (block averaging):** the trajectory is cut into
``n_blocks`` consecutive, independent sub-trajectories; MSD and D are computed inside each
(origin and end in the same block) and the error is std(D_block)/√n_blocks. Contributions
are kept per chunk of origins (at most 64 chunks, merged pairwise as the run grows), which is
what lets the blocks be chosen after the last frame; at each lag a block leaves out the
origins of the one chunk that straddles its end (≤ 1/32 of the trajectory). The default fit
window, 20–80 % of a block's length (and below K), keeps the blocks independent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

from md.analysis.numba_kernel import lazy_njit

from md.analysis.rdf import element_symbol
from md.analysis.trajectory_frames import AnalysisError, EvenFrameTimes, Frame, Unwrapper, iter_frames

A2_PER_FS_IN_CM2_PER_S = 0.1  # 1 Å²/fs = 1e-16 cm² / 1e-15 s
DEFAULT_MAX_LAG_FRAMES = 1000
DEFAULT_BLOCKS = 5
MAX_CHUNKS = 64



def _msd_accumulate_py(buffer, slot_chunk, t, species, sums, origins):  # pragma: no cover - compiled
    """Add frame t (in slot t % K of ``buffer`` (K, N, 3), Å) against every earlier frame held.

    sums[chunk of the origin, lag, element] += Σ_i |r_i(t) - r_i(t - lag)|² (Å²);
    origins[chunk, lag] += 1.
    """
    k = buffer.shape[0]
    n = buffer.shape[1]
    now = t % k
    for lag in range(1, min(t, k - 1) + 1):
        slot = (t - lag) % k
        chunk = slot_chunk[slot]
        origins[chunk, lag] += 1
        for i in range(n):
            dx = buffer[now, i, 0] - buffer[slot, i, 0]
            dy = buffer[now, i, 1] - buffer[slot, i, 1]
            dz = buffer[now, i, 2] - buffer[slot, i, 2]
            sums[chunk, lag, species[i]] += dx * dx + dy * dy + dz * dz


msd_kernel = lazy_njit(_msd_accumulate_py)


@dataclass
class MSDResult:
    """MSD(t) and D.

    Attributes:
        time_fs: lag times, fs (0, Δt, 2Δt, …).
        msd_A2: MSD of all atoms, Å².
        msd_by_element_A2: element symbol -> MSD of its atoms, Å².
        n_origins: time origins averaged at each lag.
        frame_interval_fs: Δt between frames, fs.
        n_frames: frames used.
        D_A2_per_fs, D_err_A2_per_fs: self-diffusion coefficient and its block-averaging
            error, Å²/fs (NaN when the trajectory is too short for the fit / the blocks).
        fit_start_fs, fit_end_fs: the fitted lag window, fs.
        intercept_A2: intercept of the fit, Å².
        D_blocks_A2_per_fs: D of each block, Å²/fs.
        dropped_frames: frames off the time grid that were left out (0 or 1, the last).
        notes: what limited the analysis, in words.
    """

    time_fs: np.ndarray
    msd_A2: np.ndarray
    msd_by_element_A2: Dict[str, np.ndarray]
    n_origins: np.ndarray
    frame_interval_fs: float
    n_frames: int
    D_A2_per_fs: float = math.nan
    D_err_A2_per_fs: float = math.nan
    fit_start_fs: float = math.nan
    fit_end_fs: float = math.nan
    intercept_A2: float = math.nan
    D_blocks_A2_per_fs: List[float] = field(default_factory=list)
    dropped_frames: int = 0
    notes: List[str] = field(default_factory=list)

    @property
    def D_cm2_per_s(self) -> float:
        """D in cm²/s."""
        return self.D_A2_per_fs * A2_PER_FS_IN_CM2_PER_S

    @property
    def D_err_cm2_per_s(self) -> float:
        """Error of D in cm²/s."""
        return self.D_err_A2_per_fs * A2_PER_FS_IN_CM2_PER_S


def _fit_D(time_fs: np.ndarray, msd_A2: np.ndarray):
    """(D Å²/fs, intercept Å²) of a straight line through MSD(t) (3-D: MSD = 6 D t + c)."""
    slope, intercept = np.polyfit(time_fs, msd_A2, 1)
    return slope / 6.0, intercept


class MSDAccumulator:
    """Accumulate MSD frame by frame (memory bounded by the K-frame ring buffer).

    Args:
        max_lag_frames: K, the longest lag + 1, in frames (every frame is an origin).
        max_buffer_MB: cap on the ring buffer, MB (K is reduced to fit, with a note).
        fit_start_fs, fit_end_fs: lag window of the D fit, fs (default 20–80 % of a block).
        n_blocks: blocks of the error estimate (≥ 2).
        max_step_fraction: unwrapping limit, see :class:`~md.analysis.trajectory_frames.Unwrapper`.
    """

    def __init__(self, max_lag_frames: int = DEFAULT_MAX_LAG_FRAMES, max_buffer_MB: float = 256.0,
                 fit_start_fs: Optional[float] = None, fit_end_fs: Optional[float] = None,
                 n_blocks: int = DEFAULT_BLOCKS, max_step_fraction: float = 0.4) -> None:
        if int(max_lag_frames) < 2 or int(n_blocks) < 2:
            raise AnalysisError(f"max_lag_frames and n_blocks must be at least 2, got {max_lag_frames}, {n_blocks}")
        if fit_start_fs is not None and fit_end_fs is not None and not 0 <= fit_start_fs < fit_end_fs:
            raise AnalysisError(f"the fit window must satisfy 0 ≤ start < end, got {fit_start_fs}–{fit_end_fs} fs")
        self.max_lag_frames, self.max_buffer_MB = int(max_lag_frames), float(max_buffer_MB)
        self.fit_start_fs, self.fit_end_fs, self.n_blocks = fit_start_fs, fit_end_fs, int(n_blocks)
        self._unwrap = Unwrapper(max_step_fraction)
        self._t = 0
        self._chunk = 1
        self._clock = EvenFrameTimes("MSD")
        self.notes: List[str] = []

    def _allocate(self, frame: Frame) -> None:
        n = len(frame.positions_A)
        k = self.max_lag_frames
        fit = max(2, int(self.max_buffer_MB * 1e6 // (24 * max(n, 1))))
        if fit < k:
            self.notes.append(f"max lag cut to {fit - 1} frames to keep the buffer within {self.max_buffer_MB} MB")
            k = fit
        self._numbers = np.asarray(frame.numbers, dtype=np.int64).copy()
        self._elements = np.unique(self._numbers)
        self._species = np.searchsorted(self._elements, self._numbers).astype(np.int64)
        self._buffer = np.zeros((k, n, 3))
        self._slot_chunk = np.zeros(k, dtype=np.int64)
        self._sums = np.zeros((MAX_CHUNKS, k, len(self._elements)))
        self._origins = np.zeros((MAX_CHUNKS, k), dtype=np.int64)

    def add(self, frame: Frame) -> None:
        """Add the next :class:`Frame` (times must grow evenly)."""
        if not self._clock.accept(frame):
            return
        if self._t == 0:
            self._allocate(frame)
        elif not np.array_equal(frame.numbers, self._numbers):
            raise AnalysisError(f"frame at {frame.time_fs} fs has different atoms than the first frame")
        positions = self._unwrap(frame)
        k = len(self._buffer)
        if self._t // self._chunk >= MAX_CHUNKS:  # merge chunk pairs: bounded memory for any length
            half = MAX_CHUNKS // 2
            self._sums[:half] = self._sums[0::2] + self._sums[1::2]
            self._sums[half:] = 0.0
            self._origins[:half] = self._origins[0::2] + self._origins[1::2]
            self._origins[half:] = 0
            self._slot_chunk //= 2
            self._chunk *= 2
        self._buffer[self._t % k] = positions
        self._slot_chunk[self._t % k] = self._t // self._chunk
        msd_kernel()(self._buffer, self._slot_chunk, self._t, self._species, self._sums, self._origins)
        self._t += 1

    def _block_msd(self, first_chunk: int, last_chunk: int, end_frame: int, lags: np.ndarray) -> np.ndarray:
        """Total MSD (Å²) at ``lags`` from origins in chunks [first, last] whose end < end_frame."""
        values = np.full(len(lags), np.nan)
        for m, lag in enumerate(lags):
            last = min(last_chunk, (end_frame - lag) // self._chunk - 1)  # chunks wholly inside
            if last < first_chunk:
                continue
            total = self._sums[first_chunk:last + 1, lag].sum()
            count = self._origins[first_chunk:last + 1, lag].sum()
            values[m] = total / (count * len(self._numbers)) if count else np.nan
        return values

    def result(self) -> MSDResult:
        """MSD and D of the frames added so far."""
        if self._t < 2:
            raise AnalysisError(f"MSD needs at least 2 frames, the trajectory has {self._t}")
        interval = self._clock.interval_fs
        n_lags = min(self._t, len(self._buffer))
        origins = self._origins[:, :n_lags].sum(axis=0)
        origins[0] = self._t
        sums = self._sums[:, :n_lags].sum(axis=0)
        counts = np.array([np.sum(self._species == s) for s in range(len(self._elements))])
        with np.errstate(invalid="ignore", divide="ignore"):
            by_element = sums / (np.maximum(origins, 1)[:, None] * counts[None, :])
        total = by_element @ counts / counts.sum()
        time_fs = np.arange(n_lags) * interval
        result = MSDResult(time_fs, total, {element_symbol(z): by_element[:, s] for s, z in enumerate(self._elements)},
                           origins, interval, self._t, dropped_frames=int(self._clock.held is not None),
                           notes=list(self.notes))
        if self._clock.held is not None:
            result.notes.append(self._clock.dropped_note())
        self._fit(result)
        return result

    def _fit(self, result: MSDResult) -> None:
        interval, n_lags = result.frame_interval_fs, len(result.time_fs)
        block_frames = self._t // self.n_blocks
        start = self.fit_start_fs if self.fit_start_fs is not None else 0.2 * min(block_frames, n_lags - 1) * interval
        end = self.fit_end_fs if self.fit_end_fs is not None else 0.8 * min(block_frames, n_lags - 1) * interval
        lags = np.arange(n_lags)[(result.time_fs >= start - 1e-9 * interval) & (result.time_fs <= end + 1e-9 * interval)]
        if len(lags) < 2:
            result.notes.append(f"too few lags in the fit window {start:.4g}–{end:.4g} fs (Δt {interval} fs, "
                                f"{self._t} frames, longest lag {(n_lags - 1) * interval} fs): no D")
            return
        result.fit_start_fs, result.fit_end_fs = float(result.time_fs[lags[0]]), float(result.time_fs[lags[-1]])
        result.D_A2_per_fs, result.intercept_A2 = (float(v) for v in _fit_D(result.time_fs[lags], result.msd_A2[lags]))
        n_chunks = -(-self._t // self._chunk)
        per_block = n_chunks // self.n_blocks
        if per_block < 1 or lags[-1] >= per_block * self._chunk:
            result.notes.append(f"no error bar: the fit window (up to {result.fit_end_fs} fs) does not fit in "
                                f"{self.n_blocks} blocks of the trajectory ({self._t} frames × {interval} fs); "
                                "use a shorter window or a longer run")
            return
        estimates = []
        for b in range(self.n_blocks):
            first, last = b * per_block, (b + 1) * per_block - 1
            values = self._block_msd(first, last, (last + 1) * self._chunk, lags)
            if np.all(np.isfinite(values)):
                estimates.append(float(_fit_D(result.time_fs[lags], values)[0]))
        result.D_blocks_A2_per_fs = estimates
        if len(estimates) >= 2:
            result.D_err_A2_per_fs = float(np.std(estimates, ddof=1) / math.sqrt(len(estimates)))
        else:
            result.notes.append("no error bar: fewer than 2 blocks cover the fit window")


def msd(frames: Union[str, Iterable[Frame]], max_lag_frames: int = DEFAULT_MAX_LAG_FRAMES,
        fit_start_fs: Optional[float] = None, fit_end_fs: Optional[float] = None,
        n_blocks: int = DEFAULT_BLOCKS, max_buffer_MB: float = 256.0, max_step_fraction: float = 0.4) -> MSDResult:
    """MSD (Å²) and self-diffusion coefficient (Å²/fs, cm²/s) of a trajectory: ``frames`` is a run
    folder or trajectory file (streamed) or an iterable of
    :class:`~md.analysis.trajectory_frames.Frame` (wrapped or not; times in fs). See
    :class:`MSDAccumulator` for the arguments and :class:`MSDResult` for the outputs."""
    accumulator = MSDAccumulator(max_lag_frames, max_buffer_MB, fit_start_fs, fit_end_fs, n_blocks, max_step_fraction)
    for frame in (iter_frames(frames) if isinstance(frames, str) else frames):
        accumulator.add(frame)
    return accumulator.result()
