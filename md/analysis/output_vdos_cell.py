"""Files of ``mlip analyze`` for the VACF/VDOS and the cell history (written atomically through
:mod:`md.analysis.output`).

vacf.csv: ``time_fs`` (lag, fs), ``vacf_A2_per_fs2`` (⟨v(0)·v(τ)⟩ of all atoms, Å²/fs²),
``vacf_<element>_A2_per_fs2``, ``vacf_mass_weighted_eV`` (⟨m v(0)·v(τ)⟩ per atom, eV),
``vacf_normalized`` (the one the VDOS transforms, divided by its value at 0), ``n_origins``.
vdos.csv: ``frequency_THz``, ``wavenumber_cm-1``, ``vdos_per_THz`` (∫ dν = 3 per atom),
``vdos_per_cm-1``, ``vdos_<element>_per_THz`` (3 per atom of the element).
cell.csv: ``time_fs``, ``volume_A3``, ``density_g_per_cm3``, ``a_A``, ``b_A``, ``c_A``,
``alpha_deg``, ``beta_deg``, ``gamma_deg``.
"""
from __future__ import annotations

import math

import numpy as np

from md.analysis import output


def vacf_columns(result, mass_weighted: bool = True) -> dict:
    """vacf.csv columns of a :class:`~md.analysis.vacf.VACFResult` (``vacf_normalized`` from the
    mass-weighted VACF when ``mass_weighted``)."""
    columns = {"time_fs": result.time_fs, "vacf_A2_per_fs2": result.vacf_A2_per_fs2}
    if len(result.vacf_by_element_A2_per_fs2) > 1:
        columns.update({f"vacf_{e}_A2_per_fs2": v for e, v in result.vacf_by_element_A2_per_fs2.items()})
    columns["vacf_mass_weighted_eV"] = result.vacf_mass_weighted_eV
    chosen = result.vacf_mass_weighted_eV if mass_weighted else result.vacf_A2_per_fs2
    columns["vacf_normalized"] = chosen / chosen[0] if chosen[0] > 0 else np.zeros(len(chosen))
    columns["n_origins"] = result.n_origins
    return columns


def vdos_columns(result) -> dict:
    """vdos.csv columns of a :class:`~md.analysis.vacf.VDOSResult`."""
    columns = {"frequency_THz": result.frequency_THz, "wavenumber_cm-1": result.wavenumber_cm_inv,
               "vdos_per_THz": result.vdos_per_THz, "vdos_per_cm-1": result.vdos_per_cm_inv}
    if len(result.vdos_by_element_per_THz) > 1:
        columns.update({f"vdos_{e}_per_THz": v for e, v in result.vdos_by_element_per_THz.items()})
    return columns


def cell_columns(history) -> dict:
    """cell.csv columns of a :class:`~md.analysis.cell_history.CellHistory`."""
    return {"time_fs": history.time_fs, **history.series}


def plot_vdos(vacf_result, vdos_result, path: str) -> str:
    """vdos.png: the normalised VACF against the lag (fs), and the VDOS against ν (THz, with
    cm⁻¹ on the top axis), total and per element, up to 1.5 × the frequency below which 99.9 %
    of the states lie (at most the Nyquist limit)."""
    from matplotlib.figure import Figure

    from md.analysis.vacf import THZ_IN_CM_INV

    figure = Figure(figsize=(6, 6.5), tight_layout=True)
    top, bottom = figure.subplots(2, 1)
    normalized = vacf_columns(vacf_result, vdos_result.mass_weighted)["vacf_normalized"]
    top.plot(vacf_result.time_fs, normalized, lw=1.2)
    top.axhline(0.0, color="0.6", lw=0.8)
    top.axvline(vdos_result.max_lag_fs, color="0.6", lw=0.8, ls="--", label="longest lag transformed")
    top.set_xlabel("time lag (fs)")
    top.set_ylabel("VACF / VACF(0)" + (" (mass-weighted)" if vdos_result.mass_weighted else ""))
    top.set_title(f"{vacf_result.n_frames} frames, velocities from {vacf_result.velocity_source}")
    top.legend()
    bottom.plot(vdos_result.frequency_THz, vdos_result.vdos_per_THz, lw=1.6, label="total")
    if len(vdos_result.vdos_by_element_per_THz) > 1:
        for element, values in vdos_result.vdos_by_element_per_THz.items():
            bottom.plot(vdos_result.frequency_THz, values, lw=1.0, label=element)
    bottom.set_xlabel("ν (THz)")
    bottom.set_ylabel("VDOS (states / atom / THz)")
    cumulative = np.cumsum(np.abs(vdos_result.vdos_per_THz))
    upper = vdos_result.frequency_THz[int(np.searchsorted(cumulative, 0.999 * cumulative[-1]))]
    bottom.set_xlim(0.0, min(vdos_result.nyquist_THz, 1.5 * upper + 2 * vdos_result.bin_THz))  # where the states are
    bottom.secondary_xaxis("top", functions=(lambda f: f * THZ_IN_CM_INV, lambda k: k / THZ_IN_CM_INV)) \
        .set_xlabel("wavenumber (cm⁻¹)")
    bottom.legend()
    return output._save(figure, path)


def plot_cell(history, path: str) -> str:
    """cell.png: volume (Å³), density (g/cm³), lengths (Å) and angles (°) against time (fs)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 6), tight_layout=True)
    axes = figure.subplots(2, 2, sharex=True)
    stats = history.statistics()
    t, s = history.time_fs, history.series
    for ax, name, label in ((axes[0, 0], "volume_A3", "volume (Å³)"),
                            (axes[0, 1], "density_g_per_cm3", "density (g/cm³)")):
        ax.plot(t, s[name], lw=1.0)
        mean, error = stats[name]["mean"], stats[name]["error"]
        text = f"{mean:.5g}" + (f" ± {error:.2g}" if math.isfinite(error) else "")
        ax.axhline(mean, color="k", ls="--", lw=0.8, label=f"mean {text}")
        ax.set_ylabel(label)
        ax.legend()
    for key in ("a_A", "b_A", "c_A"):
        axes[1, 0].plot(t, s[key], lw=1.0, label=key[0])
    for key, symbol in (("alpha_deg", "α"), ("beta_deg", "β"), ("gamma_deg", "γ")):
        axes[1, 1].plot(t, s[key], lw=1.0, label=symbol)
    axes[1, 0].set_ylabel("cell lengths (Å)")
    axes[1, 1].set_ylabel("cell angles (°)")
    for ax in axes[1]:
        ax.set_xlabel("time (fs)")
        ax.legend()
    if history.start_fs > t[0]:
        for ax in axes.flat:
            ax.axvline(history.start_fs, color="0.6", lw=0.8, ls=":")
    return output._save(figure, path)
