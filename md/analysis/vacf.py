"""Velocity autocorrelation function (VACF) and vibrational density of states (VDOS), streamed.

**Velocities.** ``mlip md``'s extxyz (and ASE .traj) frames carry velocities (written as ASE
momenta, read back in Å/fs); they are used when present. DCD/XTC frames carry none: then the
velocity of frame k is the central difference (x_{k+1} − x_{k−1}) / (2Δt) of *unwrapped*
positions (:class:`~md.analysis.trajectory_frames.Unwrapper`), Δt the frame spacing, fs. A
vibration of frequency ν then comes out with its amplitude times sin(2πνΔt)/(2πνΔt), so the
VDOS is damped by that factor squared (0.9 at ν ≈ 0.0885/Δt, i.e. 88 THz = 2950 cm⁻¹ for
Δt = 1 fs, 44 THz for 2 fs): finite differences need frames every MD step or two.

**VACF.** C(τ) = ⟨v_i(t)·v_i(t+τ)⟩ over atoms i and every frame t as a time origin, Å²/fs²,
total and per element; the mass-weighted C_m(τ) = ⟨m_i v_i(t)·v_i(t+τ)⟩ in eV (per atom;
C_m(0) = 3 k_B T for an equilibrium sample). As for the MSD (:mod:`md.analysis.msd`) a ring
buffer of the last K frames (K = ``max_lag_frames``, memory K × N × 24 bytes, cut to fit
``max_buffer_MB``) gives all origins in one streamed pass, cost O(T·K·N) in a numba kernel.

**VDOS.** g(ν) = 6/C(0) · ∫_0^τmax w(τ) C(τ) cos(2πντ) dτ (the even extension's Fourier
transform, done with a zero-padded FFT), normalised so that ∫_0^ν_Nyquist g dν = 3 per atom;
ν in THz (1/ps) and cm⁻¹ (ν/c). w is a Hann window (or Blackman, or none) over the lags used,
by default those below half the trajectory (each with at least half the frames as origins).
The mass-weighted VACF (default) gives the vibrational DOS of a thermalised system (every
mode holds k_B T); partial VDOS per element are normalised to 3 per atom of that element.
Frames every Δt fs resolve frequencies up to the Nyquist limit 1/(2Δt) (Δt = 5 fs: 100 THz,
3336 cm⁻¹); faster vibrations fold back (alias) below it. The frequency step of the output
grid is 1/(n_fft Δt); the true resolution is ≈ 1/τmax.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

from md.analysis.numba_kernel import lazy_njit

from mlip import units

from md.analysis.rdf import element_symbol
from md.analysis.trajectory_frames import (AnalysisError, EvenFrameTimes, Frame, Unwrapper, frame_masses_amu,
                                          iter_frames)

DEFAULT_VACF_MAX_LAG_FRAMES = 500
WINDOWS = ("hann", "blackman", "none")
PER_FS_IN_THZ = 1000.0  # 1 fs⁻¹ = 1000 ps⁻¹
THZ_IN_CM_INV = 1e12 / 2.99792458e10  # ν/c with c in cm/s (exact): 1 THz = 33.356 cm⁻¹
TRAJECTORY, FINITE_DIFFERENCES = "trajectory", "finite differences"



def _vacf_accumulate_py(buffer, t, species, masses, sums, mass_sums, origins):  # pragma: no cover - compiled
    """Correlate frame t (slot t % K of ``buffer`` (K, N, 3), Å/fs) with every frame held (lag 0 too).

    sums[lag, element] += Σ_i v_i(t)·v_i(t − lag) (Å²/fs²); mass_sums the same times m_i
    (amu Å²/fs²); origins[lag] += 1.
    """
    k = buffer.shape[0]
    n = buffer.shape[1]
    now = t % k
    for lag in range(0, min(t, k - 1) + 1):
        slot = (t - lag) % k
        origins[lag] += 1
        for i in range(n):
            dot = (buffer[now, i, 0] * buffer[slot, i, 0] + buffer[now, i, 1] * buffer[slot, i, 1]
                   + buffer[now, i, 2] * buffer[slot, i, 2])
            sums[lag, species[i]] += dot
            mass_sums[lag, species[i]] += masses[i] * dot


vacf_kernel = lazy_njit(_vacf_accumulate_py)


@dataclass
class VACFResult:
    """VACF of a trajectory (per atom, averaged over atoms and time origins).

    Attributes:
        time_fs: lags, fs (0, Δt, 2Δt, …).
        vacf_A2_per_fs2: ⟨v(0)·v(τ)⟩ of all atoms, Å²/fs².
        vacf_by_element_A2_per_fs2: element -> the same over its atoms, Å²/fs².
        vacf_mass_weighted_eV: ⟨m v(0)·v(τ)⟩ per atom, eV (3 k_B T at τ = 0 in equilibrium).
        vacf_mass_weighted_by_element_eV: element -> the same over its atoms, eV.
        n_origins: time origins averaged at each lag.
        frame_interval_fs: Δt between frames, fs.
        n_frames: velocity frames used.
        velocity_source: ``"trajectory"`` or ``"finite differences"``.
        atoms_by_element: element -> number of atoms.
        dropped_frames: frames off the time grid left out (0 or 1, the last).
        notes: what limited the analysis, in words.
    """

    time_fs: np.ndarray
    vacf_A2_per_fs2: np.ndarray
    vacf_by_element_A2_per_fs2: Dict[str, np.ndarray]
    vacf_mass_weighted_eV: np.ndarray
    vacf_mass_weighted_by_element_eV: Dict[str, np.ndarray]
    n_origins: np.ndarray
    frame_interval_fs: float
    n_frames: int
    velocity_source: str
    atoms_by_element: Dict[str, int]
    dropped_frames: int = 0
    notes: List[str] = field(default_factory=list)

    @property
    def kinetic_temperature_K(self) -> float:
        """C_m(0) / (3 k_B), K: the mean kinetic temperature with 3 degrees of freedom per atom."""
        return float(self.vacf_mass_weighted_eV[0] / (3.0 * units.BOLTZMANN_EV_PER_K))

    @property
    def green_kubo_D_A2_per_fs(self) -> float:
        """⅓ ∫_0^τmax C(τ) dτ (trapezoid), Å²/fs: the self-diffusion coefficient when the VACF
        has decayed to zero within the lags (0 for a solid)."""
        c = self.vacf_A2_per_fs2
        return float((c.sum() - 0.5 * (c[0] + c[-1])) * self.frame_interval_fs / 3.0) if len(c) > 1 else math.nan


class VACFAccumulator:
    """Accumulate the VACF frame by frame (memory bounded by the K-frame ring buffer).

    Args:
        max_lag_frames: K, the longest lag + 1, in frames.
        max_buffer_MB: cap on the ring buffer, MB (K is reduced to fit, with a note).
        use_trajectory_velocities: use the frames' velocities when they have them (else, or
            when False, central finite differences of unwrapped positions).
        max_step_fraction: unwrapping limit (finite differences), see
            :class:`~md.analysis.trajectory_frames.Unwrapper`.
    """

    def __init__(self, max_lag_frames: int = DEFAULT_VACF_MAX_LAG_FRAMES, max_buffer_MB: float = 256.0,
                 use_trajectory_velocities: bool = True, max_step_fraction: float = 0.4) -> None:
        if int(max_lag_frames) < 2:
            raise AnalysisError(f"max_lag_frames must be at least 2, got {max_lag_frames}")
        self.max_lag_frames, self.max_buffer_MB = int(max_lag_frames), float(max_buffer_MB)
        self.use_trajectory_velocities = bool(use_trajectory_velocities)
        self._unwrap = Unwrapper(max_step_fraction)
        self.source: Optional[str] = None
        self._clock = EvenFrameTimes("the VACF")
        self._previous: List[np.ndarray] = []  # finite differences: the last two unwrapped positions
        self._t = 0
        self.notes: List[str] = []

    def add(self, frame: Frame) -> None:
        """Add the next :class:`Frame` (times must grow evenly)."""
        if not self._clock.accept(frame):
            return
        if self.source is None:
            has = frame.velocities_A_per_fs is not None and self.use_trajectory_velocities
            self.source = TRAJECTORY if has else FINITE_DIFFERENCES
            self._numbers = np.asarray(frame.numbers, dtype=np.int64).copy()
            self._masses = frame_masses_amu(frame).copy()
        elif not np.array_equal(frame.numbers, self._numbers):
            raise AnalysisError(f"frame at {frame.time_fs} fs has different atoms than the first frame")
        if self.source == TRAJECTORY:
            if frame.velocities_A_per_fs is None:
                raise AnalysisError(f"frame at {frame.time_fs} fs has no velocities but the first frame had")
            self._push(np.asarray(frame.velocities_A_per_fs, dtype=np.float64))
            return
        self._previous.append(np.array(self._unwrap(frame)))
        if len(self._previous) == 3:
            earlier, _, later = self._previous
            self._push((later - earlier) / (self._clock.times_fs[-1] - self._clock.times_fs[-3]))
            self._previous.pop(0)

    def _allocate(self, n: int) -> None:
        k = self.max_lag_frames
        fit = max(2, int(self.max_buffer_MB * 1e6 // (24 * max(n, 1))))
        if fit < k:
            self.notes.append(f"max lag cut to {fit - 1} frames to keep the buffer within {self.max_buffer_MB} MB")
            k = fit
        self._elements = np.unique(self._numbers)
        self._species = np.searchsorted(self._elements, self._numbers).astype(np.int64)
        self._buffer = np.zeros((k, n, 3))
        self._sums = np.zeros((k, len(self._elements)))
        self._mass_sums = np.zeros((k, len(self._elements)))
        self._origins = np.zeros(k, dtype=np.int64)

    def _push(self, velocities: np.ndarray) -> None:
        if self._t == 0:
            self._allocate(len(velocities))
        k = len(self._buffer)
        self._buffer[self._t % k] = velocities
        vacf_kernel()(self._buffer, self._t, self._species, self._masses, self._sums, self._mass_sums, self._origins)
        self._t += 1

    def result(self) -> VACFResult:
        """The VACF of the frames added so far."""
        if self._t < 2:
            need = "3 frames (finite differences)" if self.source == FINITE_DIFFERENCES else "2 frames"
            raise AnalysisError(f"the VACF needs at least {need}; {len(self._clock.times_fs)} given")
        interval = self._clock.interval_fs
        n_lags = min(self._t, len(self._buffer))
        origins = self._origins[:n_lags]
        counts = np.array([np.sum(self._species == s) for s in range(len(self._elements))])
        by_element = self._sums[:n_lags] / (origins[:, None] * counts[None, :])
        by_element_m = self._mass_sums[:n_lags] / (origins[:, None] * counts[None, :]) * units.AMU_A2_PER_FS2_IN_EV
        symbols = [element_symbol(z) for z in self._elements]
        notes = list(self.notes)
        if self.source == FINITE_DIFFERENCES:
            notes.append(f"velocities from central differences of positions {interval:g} fs apart (the trajectory "
                         f"has none): VDOS up to the Nyquist limit {PER_FS_IN_THZ / (2 * interval):.4g} THz, damped by "
                         f"[sin(2πνΔt)/(2πνΔt)]² (0.9 at {0.0885 / interval * PER_FS_IN_THZ:.3g} THz); "
                         "write frames "
                         "every MD step or two, or an extxyz trajectory (it carries velocities)")
        if self._clock.held is not None:
            notes.append(self._clock.dropped_note())
        return VACFResult(np.arange(n_lags) * interval, by_element @ counts / counts.sum(),
                          {s: by_element[:, k] for k, s in enumerate(symbols)},
                          by_element_m @ counts / counts.sum(), {s: by_element_m[:, k] for k, s in enumerate(symbols)},
                          origins.copy(), interval, self._t, self.source,
                          {s: int(c) for s, c in zip(symbols, counts)}, int(self._clock.held is not None), notes)


def vacf(frames: Union[str, Iterable[Frame]], max_lag_frames: int = DEFAULT_VACF_MAX_LAG_FRAMES,
         max_buffer_MB: float = 256.0, use_trajectory_velocities: bool = True) -> VACFResult:
    """VACF (Å²/fs², and mass-weighted in eV) of a trajectory: ``frames`` is a run folder or
    trajectory file (streamed) or an iterable of :class:`~md.analysis.trajectory_frames.Frame`
    (times in fs, velocities in Å/fs). See :class:`VACFAccumulator` and :class:`VACFResult`."""
    accumulator = VACFAccumulator(max_lag_frames, max_buffer_MB, use_trajectory_velocities)
    for frame in (iter_frames(frames) if isinstance(frames, str) else frames):
        accumulator.add(frame)
    return accumulator.result()


@dataclass
class VDOSResult:
    """Vibrational density of states, normalised to 3 states per atom.

    Attributes:
        frequency_THz: frequencies ν, THz, from 0 to the Nyquist limit.
        vdos_per_THz: total g(ν), states per atom per THz (∫ g dν = 3).
        vdos_by_element_per_THz: element -> g_e(ν) per atom of the element, per THz.
        mass_weighted: whether the mass-weighted VACF was transformed.
        window: window over the lags (``hann``, ``blackman``, ``none``).
        max_lag_fs: the longest lag transformed, fs.
        notes: limits of the spectrum, in words.
    """

    frequency_THz: np.ndarray
    vdos_per_THz: np.ndarray
    vdos_by_element_per_THz: Dict[str, np.ndarray]
    mass_weighted: bool
    window: str
    max_lag_fs: float
    notes: List[str] = field(default_factory=list)

    @property
    def wavenumber_cm_inv(self) -> np.ndarray:
        """The frequencies as wavenumbers ν/c, cm⁻¹."""
        return self.frequency_THz * THZ_IN_CM_INV

    @property
    def vdos_per_cm_inv(self) -> np.ndarray:
        """g per cm⁻¹ (∫ g d(ν/c) = 3 per atom)."""
        return self.vdos_per_THz / THZ_IN_CM_INV

    @property
    def bin_THz(self) -> float:
        """Spacing of the frequency grid, THz."""
        return float(self.frequency_THz[1] - self.frequency_THz[0])

    @property
    def nyquist_THz(self) -> float:
        """Highest frequency the frame spacing resolves, 1/(2Δt), THz."""
        return float(self.frequency_THz[-1])

    def peak_THz(self, element: Optional[str] = None, refine: bool = True) -> float:
        """Frequency of the highest local maximum of the VDOS above ν = 0, THz (total, or of
        ``element``): the grid point, or with ``refine`` the vertex of the parabola through it
        and its two neighbours (between grid points); NaN when the VDOS only falls from ν = 0
        (a diffusive system without a band)."""
        values = self.vdos_per_THz if element is None else self.vdos_by_element_per_THz[element]
        inner = values[1:-1]
        maxima = np.flatnonzero((inner >= values[:-2]) & (inner > values[2:])) + 1
        if not len(maxima):
            return math.nan
        k = int(maxima[np.argmax(values[maxima])])
        left, centre, right = values[k - 1], values[k], values[k + 1]
        curvature = left - 2.0 * centre + right
        shift = 0.5 * (left - right) / curvature if refine and curvature < 0 else 0.0
        return float(self.frequency_THz[k] + shift * self.bin_THz)


def lag_window(n: int, window: str) -> np.ndarray:
    """One-sided window over lags 0..n-1 (1 at lag 0, 0 at n-1 for hann/blackman)."""
    x = np.arange(n) / max(n - 1, 1)
    if window == "hann":
        return 0.5 * (1.0 + np.cos(np.pi * x))
    if window == "blackman":
        return 0.42 + 0.5 * np.cos(np.pi * x) + 0.08 * np.cos(2.0 * np.pi * x)
    if window == "none":
        return np.ones(n)
    raise AnalysisError(f"unknown VDOS window {window!r}; use one of {WINDOWS}")


def cosine_transform(values: np.ndarray, dt_fs: float, n_fft: int) -> np.ndarray:
    """2 ∫_0^τmax f(τ) cos(2πντ) dτ (trapezoid on the lag grid) at ν_k = k/(n_fft Δt), k = 0..n_fft/2:
    the Fourier transform of the even extension of ``values`` (lags 0..M-1, spacing ``dt_fs``)
    zero-padded to ``n_fft`` ≥ 2(M-1) points. Units: those of f times fs."""
    m = len(values)
    extended = np.zeros(n_fft)
    extended[:m] = values
    extended[n_fft - m + 1:] = values[1:][::-1]
    return np.fft.rfft(extended).real * dt_fs


def vdos(result: VACFResult, mass_weighted: bool = True, window: str = "hann", max_lag_fs: Optional[float] = None,
         pad: int = 4) -> VDOSResult:
    """VDOS (per THz, ∫ = 3 per atom) of a :class:`VACFResult`.

    Args:
        result: the VACF.
        mass_weighted: transform the mass-weighted VACF (the thermal vibrational DOS) or the plain one.
        window: ``hann`` (default), ``blackman`` or ``none``, over the lags used.
        max_lag_fs: longest lag used, fs (default: half the trajectory, at most the VACF's).
        pad: zero padding: the FFT has at least ``pad`` × 2(M-1) points (a finer grid, not a
            better resolution).
    """
    if window not in WINDOWS:
        raise AnalysisError(f"unknown VDOS window {window!r}; use one of {WINDOWS}")
    dt = result.frame_interval_fs
    m = min(len(result.time_fs), result.n_frames // 2 + 1)
    if max_lag_fs is not None:
        if not max_lag_fs > 0:
            raise AnalysisError(f"max_lag_fs must be a positive time in fs, got {max_lag_fs}")
        m = min(len(result.time_fs), int(round(max_lag_fs / dt)) + 1)
    if m < 3:
        raise AnalysisError(f"the VDOS needs at least 3 VACF lags; {result.n_frames} velocity frames give {m}")
    n_fft = 1 << int(math.ceil(math.log2(max(pad, 1) * 2 * (m - 1))))
    w = lag_window(m, window)
    frequency_THz = np.arange(n_fft // 2 + 1) / (n_fft * dt) * PER_FS_IN_THZ

    def spectrum(c: np.ndarray) -> np.ndarray:
        return 6.0 * cosine_transform(w * c[:m], dt, n_fft) / c[0] / PER_FS_IN_THZ if c[0] > 0 else \
            np.zeros(len(frequency_THz))

    total = result.vacf_mass_weighted_eV if mass_weighted else result.vacf_A2_per_fs2
    partial_source = result.vacf_mass_weighted_by_element_eV if mass_weighted else result.vacf_by_element_A2_per_fs2
    out = VDOSResult(frequency_THz, spectrum(total), {e: spectrum(c) for e, c in partial_source.items()},
                     bool(mass_weighted), window, float((m - 1) * dt))
    top = out.vdos_per_THz[frequency_THz > 0.9 * frequency_THz[-1]].sum() * out.bin_THz / 3.0
    if top > 0.02:
        out.notes.append(f"{100 * top:.0f} % of the VDOS lies in the top 10 % below the Nyquist limit "
                         f"{out.nyquist_THz:.4g} THz: faster vibrations may be aliased; write frames more often")
    return out
