"""Per-round measurements and the loop's table: errors of a round's committee on the fixed
validation (and test) set, written as ``rounds.csv`` and ``rounds.png`` and printed.

Columns (units in the names): round, labels (frames the committee was trained on), new_labels
(labelled after its exploration), valid/test force MAE (meV/Å) and energy MAE (meV/atom),
max_sigma_eV_per_A and candidates (frames above the threshold) in its exploration, and
simulated_fs.
"""
from __future__ import annotations

import csv
import io
import math
from typing import Any, Dict, List, Optional

from mlip.atomic_io import atomic_open, atomic_path
from mlip.learn.config import LABEL_KEYS

COLUMNS = ("round", "labels", "new_labels", "valid_forces_mae_meV/A", "valid_energy_mae_meV/atom",
           "test_forces_mae_meV/A", "test_energy_mae_meV/atom", "max_sigma_eV_per_A", "candidates", "simulated_fs")


def errors(potential, path: Optional[str], prefix: str) -> Dict[str, float]:
    """Force MAE (meV/Å) and energy MAE (meV/atom) of ``potential`` on the labelled file ``path``
    (keys :data:`mlip.learn.config.LABEL_KEYS`), under ``prefix_*`` names; {} without a file."""
    if path is None:
        return {}
    from mlip.data import DataKeys, build_graphs, read_frames
    from mlip.train.metrics import evaluate

    graphs = build_graphs(read_frames(path, DataKeys(**LABEL_KEYS)), potential.cutoff)
    metrics = evaluate(potential, graphs)
    return {f"{prefix}_forces_mae_meV/A": metrics["forces_mae_meV/A"],
            f"{prefix}_energy_mae_meV/atom": metrics["energy_mae_meV/atom"]}


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def table(rows: List[Dict[str, Any]]) -> str:
    """The rounds as an aligned text table."""
    present = [c for c in COLUMNS if any(row.get(c) is not None for row in rows)]
    lines = ["  ".join(f"{c:>12}" for c in present)]
    lines += ["  ".join(f"{_cell(row.get(c)):>12}" for c in present) for row in rows]
    return "\n".join(lines)


def write_rounds(rows: List[Dict[str, Any]], csv_path: str, png_path: str) -> None:
    """``rounds.csv`` and a plot of force error and max σ against labels (both atomic)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in COLUMNS])
    with atomic_open(csv_path, "w", encoding="utf-8") as fh:
        fh.write(buf.getvalue())
    _plot(rows, png_path)


def _plot(rows: List[Dict[str, Any]], png_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    labels = [row["labels"] for row in rows]
    for key, style in (("valid_forces_mae_meV/A", "o-"), ("test_forces_mae_meV/A", "s--")):
        values = [row.get(key) for row in rows]
        if any(v is not None for v in values):
            ax.plot(labels, values, style, label=key.replace("_", " "))
    ax.set_xlabel("labelled frames")
    ax.set_ylabel("force MAE (meV/Å)")
    sigma = [row.get("max_sigma_eV_per_A") for row in rows]
    if any(s is not None for s in sigma):
        twin = ax.twinx()
        twin.plot(labels, [s if s is not None else math.nan for s in sigma], "^:", color="tab:red", label="max σ")
        twin.set_ylabel("max σ in exploration (eV/Å)", color="tab:red")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
