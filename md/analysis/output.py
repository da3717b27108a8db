"""Files of ``mlip analyze``: CSV, JSON and PNG, each written atomically (a temporary file in
the same folder, then ``os.replace``), so a reader never sees a half-written file.

rdf.csv: ``r_A`` (bin centre, Å), ``g_total``, ``g_A-B`` per element pair, then
``coordination_total``, ``coordination_A-B``: mean number of neighbours within the bin's upper
edge (r_A + Δr/2). msd.csv: ``time_fs``, ``msd_A2`` (Å², all atoms), ``msd_<element>_A2``,
``n_origins``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(handle)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs are ordinary files
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
    return path


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_json(path: str, data: dict) -> str:
    """Write ``data`` as indented JSON (NaN as null) atomically; return ``path``."""
    return write_text(path, json.dumps(_plain(data), indent=2) + "\n")


def write_csv(path: str, columns: dict) -> str:
    """Write equal-length columns ``{name: values}`` as CSV atomically; return ``path``."""
    names = list(columns)
    rows = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])
    lines = [",".join(names)] + [",".join(f"{v:.10g}" for v in row) for row in rows]
    return write_text(path, "\n".join(lines) + "\n")


def rdf_columns(result) -> dict:
    """rdf.csv columns of an :class:`~md.analysis.rdf.RDFResult`."""
    columns = {"r_A": result.r_A}
    columns.update({f"g_{key}": values for key, values in result.g.items()})
    for key, counts in result.counts.items():
        columns[f"coordination_{key}"] = np.cumsum(counts) / (result.n_atoms_A[key] * result.n_frames)
    return columns


def msd_columns(result) -> dict:
    """msd.csv columns of an :class:`~md.analysis.msd.MSDResult`."""
    columns = {"time_fs": result.time_fs, "msd_A2": result.msd_A2}
    columns.update({f"msd_{element}_A2": values for element, values in result.msd_by_element_A2.items()})
    columns["n_origins"] = result.n_origins
    return columns


def _save(figure, path: str) -> str:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    return path


def plot_rdf(result, path: str) -> str:
    """rdf.png: g(r), total and per element pair (r in Å)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    figure = Figure(figsize=(6, 4), tight_layout=True)
    axes = figure.add_subplot()
    for key, values in result.g.items():
        if key == "total" and len(result.g) == 2:
            continue  # one element: the partial is the total
        axes.plot(result.r_A, values, label=key, lw=1.8 if key == "total" else 1.2)
    axes.axhline(1.0, color="0.6", lw=0.8, ls="--")
    axes.set_xlabel("r (Å)")
    axes.set_ylabel("g(r)")
    axes.set_title(f"g(r), {result.n_frames} frames")
    axes.legend()
    return _save(figure, path)


def plot_msd(result, path: str) -> str:
    """msd.png: MSD(t) of all atoms and per element (Å², fs) with the fitted line of D."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), tight_layout=True)
    axes = figure.add_subplot()
    axes.plot(result.time_fs, result.msd_A2, label="all atoms", lw=1.8)
    if len(result.msd_by_element_A2) > 1:
        for element, values in result.msd_by_element_A2.items():
            axes.plot(result.time_fs, values, label=element, lw=1.0)
    if math.isfinite(result.D_A2_per_fs):
        t = np.array([result.fit_start_fs, result.fit_end_fs])
        error = f" ± {result.D_err_cm2_per_s:.2g}" if math.isfinite(result.D_err_A2_per_fs) else ""
        axes.plot(t, 6 * result.D_A2_per_fs * t + result.intercept_A2, "k--",
                  label=f"fit: D = {result.D_cm2_per_s:.3g}{error} cm²/s")
    axes.set_xlabel("time lag (fs)")
    axes.set_ylabel("MSD (Å²)")
    axes.legend()
    return _save(figure, path)
