"""Thermal expansion from an NPT ladder: V(T) of several ``mlip md`` runs at one pressure.

Per run (an ``mlip md`` output folder): the mean temperature (K, ``thermo.csv``'s
``temperature_K``) and mean volume (Å³: ``thermo.csv``'s ``volume_A3`` when the run wrote it,
else |det cell| of the trajectory frames), the mean cell lengths a, b, c (Å, from the
trajectory's cells, when there is a trajectory) and the mean pressure (GPa, when
``thermo.csv`` has it), each with its block-averaging error
(:func:`md.analysis.cell_history.block_mean_error`) over the rows from ``start_fs`` on
(default: after the first ``start_fraction`` = 20 % of each run, the barostat's equilibration;
at least 2 samples per block are needed).

**Fit.** V(T) = Σ_k c_k (T − T_ref)^k, a polynomial of the degree chosen by the caller (1,
linear, or 2, quadratic; nothing is chosen automatically), by weighted least squares with
weights 1/σ²: σ² = σ_V² + (dV/dT · σ_T)² (the temperature's own error through the slope of an
unweighted first fit). The coefficient covariance is (AᵀWA)⁻¹, multiplied by χ²/dof when that
exceeds 1 (scatter beyond the error bars widens the errors; it never narrows them). With as many
runs as coefficients there is no χ² and the errors are the block errors alone (noted).

**Coefficients.** Volumetric α_V(T) = (1/V) dV/dT (1/K) at ``reference_temperature_K`` (default:
the mean temperature of the ladder) and at each run, error by first-order propagation of the
covariance. Each cell length is fitted the same way, giving α_a, α_b, α_c = (1/L) dL/dT; for a
cubic (or isotropically scaled) cell α_L = α_V/3 exactly (V = a³), reported as ``alpha_L``.

**Equilibration check.** A straight line through each run's volume block means: when its slope
is significant (|t| beyond Student's 99 % point) the volume is still drifting over the averaged
part, its mean is biased, and a note names the run (the fit goes on).

Bad ladders stop with :class:`~md.analysis.trajectory_frames.AnalysisError` naming the run and
the fix: fewer runs than coefficients, runs with different atoms, a run whose volume never
changes (NVE/NVT, not NPT), runs started at different target pressures (``config.yaml``'s
``pressure_GPa``), a ladder at a single temperature.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from md.analysis.cell_history import block_mean_error, cell_history
from md.analysis.trajectory_frames import AnalysisError, MissingTrajectoryError, _run_config, iter_frames

FITS = {"linear": 1, "quadratic": 2}
AXES = ("a", "b", "c")
#: two-sided 99 % points of Student's t by degrees of freedom (drift test over the block means)
T_99 = {1: 63.66, 2: 9.925, 3: 5.841, 4: 4.604, 5: 4.032, 6: 3.707, 7: 3.499, 8: 3.355, 9: 3.250, 10: 3.169}


@dataclass
class LadderRun:
    """Means (± block errors) of one NPT run of the ladder.

    Attributes:
        run_dir: the run's folder.
        temperature_K, temperature_err_K: mean temperature and its error, K.
        volume_A3, volume_err_A3: mean volume and its error, Å³.
        lengths_A, lengths_err_A: mean cell lengths a, b, c and errors, Å (NaN without a trajectory).
        pressure_GPa, pressure_err_GPa: mean pressure and its error, GPa (NaN when not logged).
        target_temperature_K, target_pressure_GPa: from the run's ``config.yaml`` (None if absent).
        n_samples: thermo rows (or frames) the volume mean uses.
        volume_source: ``"thermo.csv"`` or ``"trajectory"``.
        cubic: the mean cell is cubic (equal lengths, right angles).
        numbers: atomic numbers of the run's atoms.
        volume_trend_t: t statistic of a straight line through the volume's block means (a
            drifting, unequilibrated volume gives |t| beyond Student's 99 % point; NaN for < 3 blocks).
        volume_change_fraction: that line's change across the averaged part, relative to the mean.
        volume_drifting: |volume_trend_t| is beyond the 99 % point: not equilibrated (a note).
    """

    run_dir: str
    temperature_K: float
    temperature_err_K: float
    volume_A3: float
    volume_err_A3: float
    lengths_A: np.ndarray
    lengths_err_A: np.ndarray
    pressure_GPa: float
    pressure_err_GPa: float
    target_temperature_K: Optional[float]
    target_pressure_GPa: Optional[float]
    n_samples: int
    volume_source: str
    cubic: bool
    numbers: np.ndarray = field(repr=False, default=None)
    volume_trend_t: float = math.nan
    volume_change_fraction: float = math.nan
    volume_drifting: bool = False


@dataclass
class PolynomialFit:
    """y(T) = Σ_k coefficients[k] (T − reference_temperature_K)^k with its covariance."""

    coefficients: np.ndarray
    covariance: np.ndarray
    reference_temperature_K: float
    chi2_per_dof: float

    def value(self, temperature_K) -> np.ndarray:
        """y at ``temperature_K`` (K)."""
        x = np.asarray(temperature_K, dtype=float) - self.reference_temperature_K
        return np.polynomial.polynomial.polyval(x, self.coefficients)

    def relative_slope(self, temperature_K):
        """((1/y) dy/dT in 1/K, its standard error) at ``temperature_K`` (K; arrays allowed)."""
        x = np.atleast_1d(np.asarray(temperature_K, dtype=float)) - self.reference_temperature_K
        powers = np.arange(len(self.coefficients))
        basis = x[:, None] ** powers  # ∂y/∂c_k
        dbasis = np.where(powers > 0, powers * x[:, None] ** np.maximum(powers - 1, 0), 0.0)  # ∂y'/∂c_k
        y, dy = basis @ self.coefficients, dbasis @ self.coefficients
        gradient = (dbasis * y[:, None] - basis * dy[:, None]) / y[:, None] ** 2
        error = np.sqrt(np.einsum("nk,kl,nl->n", gradient, self.covariance, gradient))
        return dy / y, error


@dataclass
class ThermalExpansion:
    """Result of :func:`thermal_expansion` (units: K, Å, Å³, GPa, 1/K).

    Attributes:
        runs: the ladder, sorted by temperature.
        fit_name: ``"linear"`` or ``"quadratic"``.
        volume_fit: V(T) fit (Å³).
        length_fits: axis -> L(T) fit (Å), for the axes with lengths from trajectories.
        alpha_V_per_K, alpha_V_err_per_K: α_V at ``reference_temperature_K``.
        alpha_L_per_K, alpha_L_err_per_K: α_V/3 (meaningful for cubic/isotropic cells).
        alpha_axes_per_K, alpha_axes_err_per_K: axis -> α of that cell length at the reference.
        cubic: every run's mean cell is cubic.
        notes: limits of the result, in words.
    """

    runs: List[LadderRun]
    fit_name: str
    volume_fit: PolynomialFit
    length_fits: Dict[str, PolynomialFit]
    alpha_V_per_K: float
    alpha_V_err_per_K: float
    alpha_L_per_K: float
    alpha_L_err_per_K: float
    alpha_axes_per_K: Dict[str, float]
    alpha_axes_err_per_K: Dict[str, float]
    cubic: bool
    notes: List[str] = field(default_factory=list)

    @property
    def reference_temperature_K(self) -> float:
        """Temperature (K) at which the headline coefficients are given."""
        return self.volume_fit.reference_temperature_K


def _read_thermo(run_dir: str) -> Dict[str, np.ndarray]:
    path = os.path.join(run_dir, "thermo.csv")
    if not os.path.isfile(path):
        raise AnalysisError(f"{run_dir!r} has no thermo.csv; give the output folders of `mlip md` NPT runs")
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "temperature_K" not in rows[0] or "time_fs" not in rows[0]:
        raise AnalysisError(f"{path} has no rows with time_fs and temperature_K; is it an `mlip md` thermo log?")
    columns = {}
    for name in ("time_fs", "temperature_K", "pressure_GPa", "volume_A3"):
        values = [row.get(name) for row in rows]
        if all(v in ("", None) for v in values):
            continue
        try:  # an empty cell (e.g. no pressure at step 0) is NaN and left out of the statistics
            columns[name] = np.array([float(v) if v not in ("", None) else math.nan for v in values])
        except ValueError as error:
            raise AnalysisError(f"{path}: column {name} is not numeric ({error})") from None
    if not np.all(np.isfinite(columns.get("time_fs", [math.nan]))):
        raise AnalysisError(f"{path}: time_fs has empty cells; is it an `mlip md` thermo log?")
    return columns


def _first_numbers(run_dir: str) -> Optional[np.ndarray]:
    try:
        frame = next(iter_frames(run_dir))
    except (MissingTrajectoryError, StopIteration):  # no trajectory: volume from thermo.csv only
        return None
    return np.asarray(frame.numbers)


def _statistics(values: np.ndarray, n_blocks: int, what: str, run_dir: str):
    values = values[np.isfinite(values)]
    mean, error = block_mean_error(values, n_blocks)
    if len(values) < 2 * n_blocks or not math.isfinite(error):  # blocks of one sample: no error estimate
        raise AnalysisError(f"{run_dir}: only {len(values)} {what} samples after the equilibration cut, too few for "
                            f"{n_blocks} blocks; run longer, log more often or lower the cut")
    return mean, error


def volume_trend(values: np.ndarray, n_blocks: int):
    """(t, change/mean, drifting) of a straight line through the ``n_blocks`` block means of
    ``values`` (equal consecutive blocks, remainder at the start left out): t = slope/σ_slope
    from the residuals, drifting when |t| exceeds Student's two-sided 99 % point (n_blocks − 2
    degrees of freedom; a false alarm in 1 % of equilibrated runs). NaN, False for < 3 blocks."""
    size = len(values) // n_blocks
    if n_blocks < 3 or size < 1:
        return math.nan, math.nan, False
    means = values[len(values) - size * n_blocks:].reshape(n_blocks, size).mean(axis=1)
    k = np.arange(n_blocks) - (n_blocks - 1) / 2.0
    slope = float(k @ means / (k @ k))
    residual = means - means.mean() - slope * k
    sigma = math.sqrt(float(residual @ residual) / (n_blocks - 2) / float(k @ k))
    t = slope / sigma if sigma > 0 else (0.0 if slope == 0 else math.copysign(math.inf, slope))
    change = slope * (n_blocks - 1) / float(means.mean())
    return t, change, abs(t) > T_99.get(n_blocks - 2, 3.0)


def read_ladder_run(run_dir: str, start_fs: Optional[float] = None, start_fraction: float = 0.2,
                    n_blocks: int = 5) -> LadderRun:
    """Means and block errors of one NPT run (see the module docstring; times in fs)."""
    thermo = _read_thermo(run_dir)
    time_fs = thermo["time_fs"]
    cut = start_fs if start_fs is not None else time_fs[0] + start_fraction * (time_fs[-1] - time_fs[0])
    used = time_fs >= cut - 1e-9
    temperature = _statistics(thermo["temperature_K"][used], n_blocks, "temperature", run_dir)
    pressure = (math.nan, math.nan)
    if "pressure_GPa" in thermo and np.isfinite(thermo["pressure_GPa"][used]).sum() >= 2 * n_blocks:
        pressure = _statistics(thermo["pressure_GPa"][used], n_blocks, "pressure", run_dir)
    numbers = _first_numbers(run_dir)
    history = cell_history(run_dir, start_fs=cut, n_blocks=n_blocks) if numbers is not None else None
    lengths, lengths_err, cubic = np.full(3, math.nan), np.full(3, math.nan), False
    if history is not None:
        stats = history.statistics()
        lengths = np.array([stats[f"{axis}_A"]["mean"] for axis in AXES])
        lengths_err = np.array([stats[f"{axis}_A"]["error"] for axis in AXES])
        angles = np.array([stats[k]["mean"] for k in ("alpha_deg", "beta_deg", "gamma_deg")])
        cubic = bool(np.ptp(lengths) <= 1e-4 * lengths.mean() and np.all(np.abs(angles - 90.0) < 1e-3))
    if "volume_A3" in thermo:
        series, source = thermo["volume_A3"][used], "thermo.csv"
    elif history is not None:
        series, source = history.series["volume_A3"][history.time_fs >= cut - 1e-9], "trajectory"
    else:
        raise AnalysisError(f"{run_dir}: thermo.csv has no volume_A3 column and there is no trajectory to take the "
                            "cell from; run NPT with a trajectory (or an mlip md that logs volume_A3)")
    finite = series[np.isfinite(series)]
    if len(finite) and np.ptp(finite) <= 1e-9 * abs(finite.mean()):
        raise AnalysisError(f"{run_dir}: the volume is constant ({finite.mean():.6g} Å³ in every sample): this is not "
                            "an NPT run (NVE/NVT keep the cell); thermal expansion needs runs with a barostat, "
                            "e.g. `mlip md --ensemble npt --pressure-GPa P`")
    volume = _statistics(series, n_blocks, "volume", run_dir)
    trend = volume_trend(finite, n_blocks)
    config = _run_config(os.path.join(run_dir, "thermo.csv"))
    target_T, target_p = config.get("temperature_K"), config.get("pressure_GPa")
    return LadderRun(run_dir, temperature[0], temperature[1], volume[0], volume[1], lengths, lengths_err,
                     pressure[0], pressure[1], float(target_T) if isinstance(target_T, (int, float)) else None,
                     float(target_p) if isinstance(target_p, (int, float)) else None, int(np.isfinite(series).sum()),
                     source, cubic, numbers, *trend)


def fit_polynomial(temperature_K, values, errors, degree: int, reference_temperature_K: float,
                   temperature_err_K=None) -> PolynomialFit:
    """Weighted least-squares polynomial in (T − T_ref) (see the module docstring)."""
    T, y, sy = (np.asarray(v, dtype=float) for v in (temperature_K, values, errors))
    x = T - reference_temperature_K
    design = x[:, None] ** np.arange(degree + 1)
    sigma2 = sy**2
    if temperature_err_K is not None:
        slope = np.polynomial.polynomial.polyder(np.linalg.lstsq(design, y, rcond=None)[0])
        sigma2 = sigma2 + (np.polynomial.polynomial.polyval(x, slope) * np.asarray(temperature_err_K)) ** 2
    if not np.all(sigma2 > 0):
        raise AnalysisError("a ladder point has a zero error bar; the fit needs block errors (more samples per run)")
    weights = 1.0 / sigma2
    normal = design.T @ (design * weights[:, None])
    covariance = np.linalg.inv(normal)
    coefficients = covariance @ (design.T @ (weights * y))
    dof = len(y) - (degree + 1)
    chi2 = float(np.sum(weights * (y - design @ coefficients) ** 2))
    chi2_per_dof = chi2 / dof if dof > 0 else math.nan
    if dof > 0 and chi2_per_dof > 1.0:
        covariance = covariance * chi2_per_dof
    return PolynomialFit(coefficients, covariance, float(reference_temperature_K), chi2_per_dof)


def expand_batch_runs(run_dirs: Sequence[str]) -> List[str]:
    """``run_dirs`` with each batch run's folder (one holding ``systems.csv``) replaced by its
    systems' folders, in batch order; other entries as given."""
    out: List[str] = []
    for run_dir in run_dirs:
        listing = os.path.join(run_dir, "systems.csv")
        if os.path.isdir(run_dir) and os.path.isfile(listing):
            with open(listing, newline="", encoding="utf-8") as handle:
                out.extend(os.path.join(run_dir, row["directory"]) for row in csv.DictReader(handle))
        else:
            out.append(run_dir)
    return out


def _check_ladder(runs: Sequence[LadderRun], degree: int) -> None:
    if len(runs) < degree + 1:
        raise AnalysisError(f"a {'linear' if degree == 1 else 'quadratic'} V(T) fit needs at least {degree + 1} NPT "
                            f"runs at different temperatures, got {len(runs)}; give more run folders (one more "
                            "than that for an error check)")
    first = runs[0]
    for run in runs[1:]:
        if first.numbers is not None and run.numbers is not None and not np.array_equal(first.numbers, run.numbers):
            raise AnalysisError(f"{run.run_dir} has different atoms ({len(run.numbers)}) than {first.run_dir} "
                                f"({len(first.numbers)}): a thermal-expansion ladder must be one structure at "
                                "several temperatures")
        if first.target_pressure_GPa is not None and run.target_pressure_GPa is not None \
                and abs(run.target_pressure_GPa - first.target_pressure_GPa) > 1e-9:
            raise AnalysisError(f"{run.run_dir} ran at {run.target_pressure_GPa} GPa, {first.run_dir} at "
                                f"{first.target_pressure_GPa} GPa; thermal expansion needs one pressure")
    # distinct set points: config.yaml's temperature_K, else the measured mean to the nearest kelvin
    set_points = {round(run.target_temperature_K if run.target_temperature_K is not None else run.temperature_K)
                  for run in runs}
    if len(set_points) < degree + 1:
        raise AnalysisError(f"the runs span only {len(set_points)} distinct temperature(s) "
                            f"({', '.join(f'{run.temperature_K:.1f} K' for run in runs)}); a degree-{degree} fit "
                            f"needs {degree + 1}")


def thermal_expansion(run_dirs: Sequence[str], fit: str = "linear", reference_temperature_K: Optional[float] = None,
                      start_fs: Optional[float] = None, start_fraction: float = 0.2,
                      n_blocks: int = 5) -> ThermalExpansion:
    """α_V, α_L (1/K) and per-axis α of an NPT ladder (the ``mlip md`` folders ``run_dirs``).

    Args:
        run_dirs: NPT runs of one structure at one pressure and several temperatures; a
            batch run's folder (``mlip md --replicas N --temperature-K T1 … --ensemble npt``,
            with its ``systems.csv``) stands for all of its systems.
        fit: ``"linear"`` or ``"quadratic"`` V(T) (and L(T)).
        reference_temperature_K: where the headline α is given, K (default: mean ladder T).
        start_fs: statistics from this time on, fs (default: after ``start_fraction`` of each run).
        start_fraction: fraction of each run left out as equilibration when ``start_fs`` is None.
        n_blocks: blocks of the error estimates (≥ 2).
    """
    if fit not in FITS:
        raise AnalysisError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}")
    if not 0.0 <= start_fraction < 1.0:
        raise AnalysisError(f"start_fraction must lie in [0, 1), got {start_fraction}")
    degree = FITS[fit]
    run_dirs = expand_batch_runs(run_dirs)
    if len(run_dirs) < 2:
        raise AnalysisError(f"thermal expansion needs NPT runs at two or more temperatures, got {len(run_dirs)} run "
                            "folder(s); give one folder per temperature")
    runs = sorted((read_ladder_run(d, start_fs, start_fraction, n_blocks) for d in run_dirs),
                  key=lambda run: run.temperature_K)
    _check_ladder(runs, degree)
    notes = [f"{run.run_dir}: the volume still drifts ({run.volume_change_fraction:+.2%} across the averaged part, "
             f"t = {run.volume_trend_t:.3g} over {n_blocks} blocks): not equilibrated, its mean is biased; leave more "
             "out (start_fraction / --cell-start-fs) or run longer (a slow barostat? check its tau and assumed "
             "compressibility)" for run in runs if run.volume_drifting]
    T = np.array([run.temperature_K for run in runs])
    sT = np.array([run.temperature_err_K for run in runs])
    t_ref = float(T.mean()) if reference_temperature_K is None else float(reference_temperature_K)
    volume_fit = fit_polynomial(T, [r.volume_A3 for r in runs], [r.volume_err_A3 for r in runs], degree, t_ref, sT)
    if len(runs) == degree + 1:
        notes.append(f"{len(runs)} runs for {degree + 1} coefficients: no χ² check, errors from block errors only")
    elif volume_fit.chi2_per_dof > 3.0:
        notes.append(f"V(T) χ²/dof = {volume_fit.chi2_per_dof:.3g}: the {fit} fit does not describe the ladder within "
                     "its errors (errors scaled up); try the other fit, a longer equilibration cut or longer runs")
    (alpha_V,), (alpha_V_err,) = volume_fit.relative_slope(t_ref)
    length_fits, alpha_axes, alpha_axes_err = {}, {}, {}
    if all(np.all(np.isfinite(r.lengths_A)) and np.all(r.lengths_err_A > 0) for r in runs):
        for k, axis in enumerate(AXES):
            length_fits[axis] = fit_polynomial(T, [r.lengths_A[k] for r in runs], [r.lengths_err_A[k] for r in runs],
                                               degree, t_ref, sT)
            (value,), (error,) = length_fits[axis].relative_slope(t_ref)
            alpha_axes[axis], alpha_axes_err[axis] = float(value), float(error)
    else:
        notes.append("no per-axis coefficients: some runs have no trajectory (or a constant cell length)")
    cubic = all(run.cubic for run in runs)
    if not cubic:
        notes.append("the cell is not cubic: alpha_L = alpha_V/3 is an average; see the per-axis coefficients")
    return ThermalExpansion(runs, fit, volume_fit, length_fits, float(alpha_V), float(alpha_V_err),
                            float(alpha_V) / 3.0, float(alpha_V_err) / 3.0, alpha_axes, alpha_axes_err, cubic, notes)
