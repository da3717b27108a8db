"""Calibration plot of a committee's force uncertainty (PNG) and its table (CSV next to it),
drawn without touching pyplot's global state."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Tuple

import numpy as np

from mlip.atomic_io import atomic_write_bytes
from mlip.train.parity_plot import save_figure


def write_calibration_plot(report, path, title: str = "") -> Tuple[Path, Path]:
    """Two panels of a :class:`mlip.train.calibration.CalibrationReport`: the binned
    calibration curve (RMS predicted σ vs RMS observed |ΔF| per bin of σ, meV/Å, log-log, with
    the diagonal of perfect calibration) and per-frame predicted σ (max and mean over atoms) vs
    the frame's RMS force error with the Spearman correlations. Writes ``path`` (PNG) and the bins
    as ``path`` with suffix .csv (eV/Å); returns both paths. Atomic writes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    path = Path(path)
    fig = Figure(figsize=(9.5, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    sig = 1000 * np.array([b["sigma_rms_eV_per_A"] for b in report.bins])
    err = 1000 * np.array([b["error_rms_eV_per_A"] for b in report.bins])
    ax.plot(sig, err, "o-", label="RMS |ΔF| per σ bin")
    positive = np.concatenate([sig, err])
    positive = positive[positive > 0]
    if positive.size:
        lo, hi = positive.min() / 1.5, positive.max() * 1.5
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="calibrated")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("predicted σ (RMS in bin), meV/Å")
    ax.set_ylabel("observed |ΔF| (RMS in bin), meV/Å")
    ax.set_title(f"scale {report.scale:.3g}; {100 * report.coverage_2sigma:.1f} % atoms |ΔF| < 2σ")
    ax.legend(loc="upper left", fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    fe = 1000 * np.asarray(report.frames["error_rms_eV_per_A"])
    for key, label, marker in (("sigma_max_eV_per_A", "max", "o"), ("sigma_mean_eV_per_A", "mean", "x")):
        ax.scatter(1000 * np.asarray(report.frames[key]), fe, s=8, alpha=0.6, marker=marker, label=f"{label} σ over atoms")
    if fe.size and fe.min() > 0 and min(min(report.frames["sigma_mean_eV_per_A"]), min(report.frames["sigma_max_eV_per_A"])) > 0:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("frame predicted σ, meV/Å")
    ax.set_ylabel("frame RMS |ΔF|, meV/Å")
    ax.set_title(f"{report.n_frames} frames: Spearman {report.spearman_frame_max:.2f} (max σ), "
                 f"{report.spearman_frame_mean:.2f} (mean σ)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    for panel in fig.axes:  # log axes labelled 10, 20, 50, 100, ... meV/Å (only decades over a wide range)
        for axis, (lo, hi) in ((panel.xaxis, panel.get_xlim()), (panel.yaxis, panel.get_ylim())):
            if axis.get_scale() == "log":
                axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if hi < 300 * lo else (1.0,)))
                axis.set_major_formatter(FormatStrFormatter("%g"))
                axis.set_minor_formatter(NullFormatter())
    save_figure(fig, path, title)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(report.bins[0]) if report.bins else ["n_atoms"])
    writer.writeheader()
    writer.writerows(report.bins)
    csv_path = path.with_suffix(".csv")
    atomic_write_bytes(str(csv_path), table.getvalue().encode())
    return path, csv_path
