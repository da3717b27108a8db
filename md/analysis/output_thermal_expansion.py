"""Files of ``mlip analyze --thermal-expansion``, written atomically through :mod:`md.analysis.output`.

thermal_expansion.csv, one row per run (sorted by temperature): ``run`` (folder),
``temperature_K``, ``temperature_err_K``, ``target_temperature_K``, ``volume_A3``,
``volume_err_A3``, ``volume_fit_A3``, ``a_A``, ``a_err_A``, ``b_A``, ``b_err_A``, ``c_A``,
``c_err_A``, ``pressure_GPa``, ``pressure_err_GPa``, ``alpha_V_per_K``, ``alpha_V_err_per_K``
(α_V of the fit at the run's temperature), ``n_samples``, ``volume_source``.
thermal_expansion.json: the fit (coefficients of V(T) in powers of T − T_ref, Å³/K^k, their
covariance, χ²/dof), α_V, α_L and per-axis α with errors at T_ref, the runs, notes.
thermal_expansion.png: V(T) with error bars and the fit; α_V(T) with its error band.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict

import numpy as np

from md.analysis import output

CSV_COLUMNS = ("run", "temperature_K", "temperature_err_K", "target_temperature_K", "volume_A3", "volume_err_A3",
               "volume_fit_A3", "a_A", "a_err_A", "b_A", "b_err_A", "c_A", "c_err_A", "pressure_GPa",
               "pressure_err_GPa", "alpha_V_per_K", "alpha_V_err_per_K", "n_samples", "volume_source")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"' if ("," in value or '"' in value) else value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.10g}" if math.isfinite(float(value)) else ""


def csv_rows(result) -> list:
    """Rows (lists in :data:`CSV_COLUMNS` order) of a :class:`~md.analysis.thermal_expansion.ThermalExpansion`."""
    T = np.array([run.temperature_K for run in result.runs])
    alpha, alpha_err = result.volume_fit.relative_slope(T)
    fitted = result.volume_fit.value(T)
    rows = []
    for k, run in enumerate(result.runs):
        lengths = [v for axis in range(3) for v in (run.lengths_A[axis], run.lengths_err_A[axis])]
        rows.append([run.run_dir, run.temperature_K, run.temperature_err_K, run.target_temperature_K, run.volume_A3,
                     run.volume_err_A3, fitted[k], *lengths, run.pressure_GPa, run.pressure_err_GPa, alpha[k],
                     alpha_err[k], run.n_samples, run.volume_source])
    return rows


def summary(result) -> Dict[str, Any]:
    """The content of thermal_expansion.json."""
    fit = result.volume_fit
    return {
        "fit": result.fit_name, "reference_temperature_K": result.reference_temperature_K,
        "volume_fit": {"coefficients_A3_per_K_power": fit.coefficients, "covariance": fit.covariance,
                       "chi2_per_dof": fit.chi2_per_dof},
        "alpha_V_per_K": result.alpha_V_per_K, "alpha_V_err_per_K": result.alpha_V_err_per_K,
        "alpha_L_per_K": result.alpha_L_per_K, "alpha_L_err_per_K": result.alpha_L_err_per_K,
        "alpha_axes_per_K": result.alpha_axes_per_K, "alpha_axes_err_per_K": result.alpha_axes_err_per_K,
        "cubic": result.cubic,
        "runs": [dict(zip(CSV_COLUMNS, row)) for row in csv_rows(result)],
        "units": {"temperature": "K", "volume": "Å³", "length": "Å", "pressure": "GPa", "alpha": "1/K"},
        "notes": result.notes,
    }


def plot(result, path: str) -> str:
    """thermal_expansion.png: V(T) (Å³ vs K) with the fit, and α_V(T) (1/K) with its error band."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4), tight_layout=True)
    left, right = figure.subplots(1, 2)
    T = np.array([run.temperature_K for run in result.runs])
    grid = np.linspace(T.min() - 0.05 * np.ptp(T), T.max() + 0.05 * np.ptp(T), 200)
    left.errorbar(T, [r.volume_A3 for r in result.runs], [r.volume_err_A3 for r in result.runs],
                  [r.temperature_err_K for r in result.runs], fmt="o", capsize=3, label="runs (block errors)")
    chi2 = result.volume_fit.chi2_per_dof
    left.plot(grid, result.volume_fit.value(grid), "k-", lw=1.0,
              label=f"{result.fit_name} fit" + (f", χ²/dof {chi2:.2g}" if math.isfinite(chi2) else ""))
    left.set_xlabel("T (K)")
    left.set_ylabel("V (Å³)")
    left.legend()
    alpha, error = result.volume_fit.relative_slope(grid)
    right.plot(grid, alpha * 1e6, "C0-", lw=1.2, label="α_V = (1/V) dV/dT")
    right.fill_between(grid, (alpha - error) * 1e6, (alpha + error) * 1e6, color="C0", alpha=0.2)
    right.errorbar([result.reference_temperature_K], [result.alpha_V_per_K * 1e6], [result.alpha_V_err_per_K * 1e6],
                   fmt="ko", capsize=3, label=f"{result.alpha_V_per_K * 1e6:.4g} ± {result.alpha_V_err_per_K * 1e6:.2g}"
                                              f" ×10⁻⁶/K at {result.reference_temperature_K:.0f} K")
    right.set_xlabel("T (K)")
    right.set_ylabel("α_V (10⁻⁶ / K)")
    right.legend(fontsize=8)
    return output._save(figure, path)


def write(result, out_dir: str) -> Dict[str, Any]:
    """Write thermal_expansion.csv/.json/.png to ``out_dir`` (created); return the JSON content
    plus ``"files"`` (name -> path)."""
    os.makedirs(out_dir, exist_ok=True)
    files = {name: os.path.join(out_dir, name)
             for name in ("thermal_expansion.csv", "thermal_expansion.png", "thermal_expansion.json")}
    lines = [",".join(CSV_COLUMNS)] + [",".join(_cell(v) for v in row) for row in csv_rows(result)]
    output.write_text(files["thermal_expansion.csv"], "\n".join(lines) + "\n")
    plot(result, files["thermal_expansion.png"])
    content = summary(result)
    content["files"] = {name: os.path.abspath(p) for name, p in files.items()}
    output.write_json(files["thermal_expansion.json"], content)
    return content
