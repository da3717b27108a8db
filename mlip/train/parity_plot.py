"""Parity plots (predicted vs reference) as PNG, drawn without touching pyplot's global state."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from mlip.atomic_io import atomic_write_bytes


def write_parity_plot(values, path: Path, title: str = "") -> Path:
    """Two panels: energy per atom (eV/atom) and force components (eV/Å); atomic write."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    panels = [("energy", "energy per atom (eV/atom)"), ("forces", "force component (eV/Å)")]
    for k, (name, label) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        ref, pred = values[f"{name}_ref"], values[f"{name}_pred"]
        if len(ref):
            ax.scatter(ref, pred, s=4, alpha=0.5)
            lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            mae = float(np.mean(np.abs(pred - ref)))
            ax.set_title(f"{name}: MAE {mae * 1000:.2f} meV{'/atom' if name == 'energy' else '/Å'}")
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"mlip {label}")
    return save_figure(fig, path, title)


def save_figure(fig, path, title: Optional[str] = None) -> Path:
    """Give ``fig`` its title, lay it out and write it as PNG to ``path`` atomically."""
    import io

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)
