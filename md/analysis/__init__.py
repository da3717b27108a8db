"""Analysis of ``mlip md`` trajectories (``mlip analyze``): g(r), MSD and self-diffusion, VACF
and vibrational DOS, cell/volume/density over time.

Units: Å, fs, amu, eV (D in Å²/fs and cm²/s, frequencies in THz and cm⁻¹, density in g/cm³).
Trajectories are streamed frame by frame (:mod:`md.analysis.trajectory_frames`); the inner
loops are numba kernels (:mod:`md.analysis.rdf`, :mod:`md.analysis.msd`,
:mod:`md.analysis.vacf`), compiled on first use without a disk cache.

* :func:`rdf` — g(r), total and per element pair, over all periodic images up to r_max.
* :func:`msd` — MSD(t) with every frame as a time origin, D from a linear fit, block error.
* :func:`vacf`, :func:`vdos` — velocity autocorrelation (Å²/fs², mass-weighted in eV) and its
  windowed cosine transform (states per atom per THz).
* :func:`cell_history` — volume (Å³), density (g/cm³), cell lengths (Å) and angles (°) per
  frame, mean and block error.
* :func:`thermal_expansion` — V(T) of an NPT ladder (several run folders), α_V, α_L and per-axis
  α (1/K) with errors (``mlip analyze --thermal-expansion``, :mod:`md.analysis.thermal_expansion`).
* :func:`analyze_run` — all in one pass over a run folder, written to rdf.csv, rdf.png,
  msd.csv, msd.png, vacf.csv, vdos.csv, vdos.png, cell.csv, cell.png and analysis.json.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np

from md.analysis.cell_history import CellAccumulator, CellHistory, cell_history
from md.analysis.msd import DEFAULT_MAX_LAG_FRAMES, MSDAccumulator, MSDResult, msd
from md.analysis.rdf import DEFAULT_BINS, DEFAULT_R_MAX_A, RDFAccumulator, RDFResult, pair_keys, rdf
from md.analysis.thermal_expansion import ThermalExpansion, thermal_expansion
from md.analysis.trajectory_frames import (AnalysisError, Frame, MissingTrajectoryError, UnwrapError, Unwrapper,
                                           find_trajectory, iter_frames)
from md.analysis.vacf import (DEFAULT_VACF_MAX_LAG_FRAMES, THZ_IN_CM_INV, VACFAccumulator, VACFResult, VDOSResult,
                              vacf, vdos)

__all__ = ["AnalysisError", "CellHistory", "Frame", "MSDResult", "MissingTrajectoryError", "RDFResult", "UnwrapError",
           "Unwrapper", "VACFResult", "VDOSResult", "ThermalExpansion", "analyze_run", "cell_history",
           "find_trajectory", "iter_frames", "msd", "rdf", "thermal_expansion", "vacf", "vdos"]

OUTPUTS = ("rdf.csv", "rdf.png", "msd.csv", "msd.png", "vacf.csv", "vdos.csv", "vdos.png", "cell.csv", "cell.png",
           "analysis.json")


def _rdf_summary(result: RDFResult) -> Dict[str, Any]:
    keys = ("total",) + pair_keys(result)
    return {"r_max_A": result.r_max_A, "n_bins": len(result.r_A), "n_frames": result.n_frames,
            "periodic_images": result.n_images,
            "first_peak_A": {k: result.first_peak_A(k) for k in keys},
            "density_per_A3": {k: result.density_per_A3[k] for k in keys},
            "coordination_within_r_max": {k: result.coordination_number(k) for k in keys}}


def _msd_summary(result: MSDResult, n_blocks: int) -> Dict[str, Any]:
    return {"D_A2_per_fs": result.D_A2_per_fs, "D_err_A2_per_fs": result.D_err_A2_per_fs,
            "D_cm2_per_s": result.D_cm2_per_s, "D_err_cm2_per_s": result.D_err_cm2_per_s,
            "fit_start_fs": result.fit_start_fs, "fit_end_fs": result.fit_end_fs,
            "intercept_A2": result.intercept_A2, "n_blocks": n_blocks,
            "D_blocks_A2_per_fs": result.D_blocks_A2_per_fs, "n_frames": result.n_frames,
            "frame_interval_fs": result.frame_interval_fs, "max_lag_fs": float(result.time_fs[-1]),
            "dropped_frames": result.dropped_frames, "notes": result.notes}


def _vacf_summary(result: VACFResult) -> Dict[str, Any]:
    return {"velocity_source": result.velocity_source, "n_frames": result.n_frames,
            "frame_interval_fs": result.frame_interval_fs, "max_lag_fs": float(result.time_fs[-1]),
            "vacf0_A2_per_fs2": result.vacf_A2_per_fs2[0], "vacf0_mass_weighted_eV": result.vacf_mass_weighted_eV[0],
            "kinetic_temperature_K": result.kinetic_temperature_K,
            "vacf0_by_element_A2_per_fs2": {e: v[0] for e, v in result.vacf_by_element_A2_per_fs2.items()},
            "atoms_by_element": result.atoms_by_element, "green_kubo_D_A2_per_fs": result.green_kubo_D_A2_per_fs,
            "dropped_frames": result.dropped_frames, "notes": result.notes}


def _vdos_summary(result: VDOSResult) -> Dict[str, Any]:
    return {"mass_weighted": result.mass_weighted, "window": result.window, "max_lag_fs": result.max_lag_fs,
            "bin_THz": result.bin_THz, "bin_cm-1": result.bin_THz * THZ_IN_CM_INV,
            "resolution_THz": 1000.0 / result.max_lag_fs,
            "nyquist_THz": result.nyquist_THz, "nyquist_cm-1": result.nyquist_THz * THZ_IN_CM_INV,
            "peak_THz": result.peak_THz(), "peak_cm-1": result.peak_THz() * THZ_IN_CM_INV,
            "peak_by_element_THz": {e: result.peak_THz(e) for e in result.vdos_by_element_per_THz},
            "notes": result.notes}


def _cell_summary(history: CellHistory) -> Dict[str, Any]:
    return {"n_frames": len(history.time_fs), "start_fs": history.start_fs, "n_blocks": history.n_blocks,
            "total_mass_amu": history.total_mass_amu, "n_atoms": history.n_atoms, **history.statistics(),
            "notes": history.notes}


def analyze_run(run_dir: str, out_dir: Optional[str] = None, r_max_A: float = DEFAULT_R_MAX_A,
                n_bins: int = DEFAULT_BINS, rdf_start_fs: float = 0.0, max_lag_frames: int = DEFAULT_MAX_LAG_FRAMES,
                fit_start_fs: Optional[float] = None, fit_end_fs: Optional[float] = None, n_blocks: int = 5,
                frame_interval_fs: Optional[float] = None,
                vacf_max_lag_frames: int = DEFAULT_VACF_MAX_LAG_FRAMES, vdos_max_lag_fs: Optional[float] = None,
                vdos_window: str = "hann", mass_weighted: bool = True, trajectory_velocities: bool = True,
                cell_start_fs: float = 0.0) -> Dict[str, Any]:
    """Analyse an ``mlip md`` run in one streamed pass and write the outputs.

    Args:
        run_dir: the run's output folder (or a trajectory file).
        out_dir: where to write (default ``run_dir/analysis``; created).
        r_max_A, n_bins: g(r) range, Å, and number of bins.
        rdf_start_fs: frames before this time (fs) are left out of g(r) (equilibration).
        max_lag_frames: longest MSD lag + 1, frames (the ring buffer's length).
        fit_start_fs, fit_end_fs: D fit window, fs (default 20–80 % of a block).
        n_blocks: blocks of D's error estimate.
        frame_interval_fs: time between frames, fs, for DCD without a ``config.yaml``.
        vacf_max_lag_frames: longest VACF lag + 1, frames (its ring buffer's length).
        vdos_max_lag_fs: longest VACF lag transformed into the VDOS, fs (default half the run).
        vdos_window: ``hann``, ``blackman`` or ``none``.
        mass_weighted: VDOS from the mass-weighted VACF (the thermal vibrational DOS).
        trajectory_velocities: use the frames' velocities (extxyz/traj) when present; False
            forces central finite differences of positions.
        cell_start_fs: cell/density statistics from this time on, fs (cell.csv has all frames).

    Returns:
        The content of ``analysis.json`` (plus ``"files"``: output name -> path). g(r) and the
        cell history are skipped, with the reason in ``rdf.skipped`` / ``cell.skipped``, for a
        trajectory that is not periodic in all three directions; the MSD and the VACF/VDOS, with
        the reason in ``msd.skipped`` / ``vacf.skipped``, when there are too few frames (a
        one-frame run still gets g(r) and the cell).
    """
    path = find_trajectory(run_dir)
    if out_dir is None:
        out_dir = os.path.join(run_dir if os.path.isdir(run_dir) else os.path.dirname(os.path.abspath(path)),
                               "analysis")
    rdf_acc = RDFAccumulator(r_max_A, n_bins, rdf_start_fs)
    msd_acc = MSDAccumulator(max_lag_frames, fit_start_fs=fit_start_fs, fit_end_fs=fit_end_fs, n_blocks=n_blocks)
    vacf_acc = VACFAccumulator(vacf_max_lag_frames, use_trajectory_velocities=trajectory_velocities)
    cell_acc = CellAccumulator(cell_start_fs, n_blocks)
    first = None
    for frame in iter_frames(path, frame_interval_fs=frame_interval_fs):
        if first is None:
            first = frame
            if not np.all(frame.pbc):
                rdf_acc = cell_acc = None
        if rdf_acc is not None:
            rdf_acc.add(frame)
        msd_acc.add(frame)
        vacf_acc.add(frame)
        if cell_acc is not None:
            cell_acc.add(frame)
    if first is None:
        raise AnalysisError(f"{path!r} holds no frames")
    rdf_result = rdf_acc.result() if rdf_acc is not None else None
    try:  # one frame still gives g(r) and the cell; the MSD needs two
        msd_result, msd_skipped = msd_acc.result(), ""
    except AnalysisError as error:
        msd_result, msd_skipped = None, str(error)
    try:
        vacf_result = vacf_acc.result()
        vdos_result = vdos(vacf_result, mass_weighted, vdos_window, vdos_max_lag_fs)
    except AnalysisError as error:
        vacf_result = vdos_result = None
        vacf_skipped = str(error)
    cell_result = cell_acc.result() if cell_acc is not None else None
    from md.analysis import output, output_vdos_cell

    os.makedirs(out_dir, exist_ok=True)
    files = {}
    summary: Dict[str, Any] = {
        "trajectory": os.path.abspath(path), "n_atoms": int(len(first.numbers)),
        "units": {"length": "Å", "time": "fs", "D": "Å²/fs and cm²/s", "g(r)": "1", "VACF": "Å²/fs²",
                  "mass-weighted VACF": "eV per atom", "frequency": "THz and cm⁻¹",
                  "VDOS": "states per atom per THz",
                  "volume": "Å³", "density": "g/cm³", "angles": "degrees", "mass": "amu", "temperature": "K"},
    }
    if rdf_result is not None:
        files["rdf.csv"] = output.write_csv(os.path.join(out_dir, "rdf.csv"), output.rdf_columns(rdf_result))
        files["rdf.png"] = output.plot_rdf(rdf_result, os.path.join(out_dir, "rdf.png"))
        summary["rdf"] = _rdf_summary(rdf_result)
    else:
        summary["rdf"] = {"skipped": f"the trajectory is not periodic in 3-D (pbc={first.pbc.tolist()}): "
                                     "g(r) needs a volume"}
    if msd_result is not None:
        files["msd.csv"] = output.write_csv(os.path.join(out_dir, "msd.csv"), output.msd_columns(msd_result))
        files["msd.png"] = output.plot_msd(msd_result, os.path.join(out_dir, "msd.png"))
        summary["msd"] = _msd_summary(msd_result, n_blocks)
    else:
        summary["msd"] = {"skipped": msd_skipped}
    if vacf_result is not None:
        files["vacf.csv"] = output.write_csv(os.path.join(out_dir, "vacf.csv"),
                                             output_vdos_cell.vacf_columns(vacf_result, mass_weighted))
        files["vdos.csv"] = output.write_csv(os.path.join(out_dir, "vdos.csv"),
                                             output_vdos_cell.vdos_columns(vdos_result))
        files["vdos.png"] = output_vdos_cell.plot_vdos(vacf_result, vdos_result, os.path.join(out_dir, "vdos.png"))
        summary["vacf"] = _vacf_summary(vacf_result)
        summary["vdos"] = _vdos_summary(vdos_result)
    else:
        summary["vacf"] = summary["vdos"] = {"skipped": vacf_skipped}
    if cell_result is not None:
        files["cell.csv"] = output.write_csv(os.path.join(out_dir, "cell.csv"),
                                             output_vdos_cell.cell_columns(cell_result))
        files["cell.png"] = output_vdos_cell.plot_cell(cell_result, os.path.join(out_dir, "cell.png"))
        summary["cell"] = _cell_summary(cell_result)
    else:
        summary["cell"] = {"skipped": f"the trajectory is not periodic in 3-D (pbc={first.pbc.tolist()}): "
                                      "no volume or density"}
    files["analysis.json"] = os.path.join(out_dir, "analysis.json")
    summary["files"] = {name: os.path.abspath(p) for name, p in files.items()}
    output.write_json(files["analysis.json"], summary)
    return summary
