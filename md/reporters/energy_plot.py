"""PNG plot of H and H̃ versus time (matplotlib's Agg canvas; no pyplot, no global state)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from mlip.atomic_io import atomic_open


def plot_energies(path: str, time_fs: Sequence[float], energy_eV: Sequence[float],
                  shadow_time_fs: Sequence[float], shadow_eV: Optional[Sequence[float]],
                  n_atoms: int, title: str) -> None:
    """Plot (E − E₀) in meV/atom against time in ps for H and, if given, H̃; write PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.0), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    to_mev = 1e3 / max(n_atoms, 1)
    t = np.asarray(time_fs) * 1e-3
    e = np.asarray(energy_eV)
    axes.plot(t, (e - e[0]) * to_mev, lw=0.8, label="H (conserved energy)")
    if shadow_eV is not None and len(shadow_eV) > 0:
        s = np.asarray(shadow_eV)
        axes.plot(np.asarray(shadow_time_fs) * 1e-3, (s - s[0]) * to_mev, lw=1.2, label="H̃ (shadow)")
    axes.set_xlabel("time (ps)")
    axes.set_ylabel("E − E(0) (meV/atom)")
    axes.set_title(title)
    axes.legend(loc="best")
    figure.tight_layout()
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png")
