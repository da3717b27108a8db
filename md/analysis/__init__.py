"""Analysis of ``mlip md`` trajectories (``mlip analyze``): g(r), MSD and self-diffusion.

Units: Å, fs (D in Å²/fs and cm²/s). Trajectories are streamed frame by frame
(:mod:`md.analysis.trajectory_frames`); the inner loops are numba kernels
(:mod:`md.analysis.rdf`, :mod:`md.analysis.msd`), compiled on first use without a disk cache.

* :func:`rdf` — g(r), total and per element pair, over all periodic images up to r_max.
* :func:`msd` — MSD(t) with every frame as a time origin, D from a linear fit, block error.
* :func:`analyze_run` — both in one pass over a run folder, written to rdf.csv, rdf.png,
  msd.csv, msd.png and analysis.json.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np

from md.analysis.msd import DEFAULT_MAX_LAG_FRAMES, MSDAccumulator, MSDResult, msd
from md.analysis.rdf import DEFAULT_BINS, DEFAULT_R_MAX_A, RDFAccumulator, RDFResult, pair_keys, rdf
from md.analysis.trajectory_frames import (AnalysisError, Frame, MissingTrajectoryError, UnwrapError, Unwrapper,
                                           find_trajectory, iter_frames)

__all__ = ["AnalysisError", "Frame", "MSDResult", "MissingTrajectoryError", "RDFResult", "UnwrapError", "Unwrapper",
           "analyze_run", "find_trajectory", "iter_frames", "msd", "rdf"]

OUTPUTS = ("rdf.csv", "rdf.png", "msd.csv", "msd.png", "analysis.json")


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


def analyze_run(run_dir: str, out_dir: Optional[str] = None, r_max_A: float = DEFAULT_R_MAX_A,
                n_bins: int = DEFAULT_BINS, rdf_start_fs: float = 0.0, max_lag_frames: int = DEFAULT_MAX_LAG_FRAMES,
                fit_start_fs: Optional[float] = None, fit_end_fs: Optional[float] = None, n_blocks: int = 5,
                frame_interval_fs: Optional[float] = None) -> Dict[str, Any]:
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

    Returns:
        The content of ``analysis.json`` (plus ``"files"``: output name -> path). g(r) is
        skipped, with the reason in ``rdf.skipped``, for a trajectory that is not periodic in
        all three directions.
    """
    path = find_trajectory(run_dir)
    if out_dir is None:
        out_dir = os.path.join(run_dir if os.path.isdir(run_dir) else os.path.dirname(os.path.abspath(path)),
                               "analysis")
    rdf_acc = RDFAccumulator(r_max_A, n_bins, rdf_start_fs)
    msd_acc = MSDAccumulator(max_lag_frames, fit_start_fs=fit_start_fs, fit_end_fs=fit_end_fs, n_blocks=n_blocks)
    first = None
    for frame in iter_frames(path, frame_interval_fs=frame_interval_fs):
        if first is None:
            first = frame
            if not np.all(frame.pbc):
                rdf_acc = None
        if rdf_acc is not None:
            rdf_acc.add(frame)
        msd_acc.add(frame)
    if first is None:
        raise AnalysisError(f"{path!r} holds no frames")
    rdf_result = rdf_acc.result() if rdf_acc is not None else None
    msd_result = msd_acc.result()
    from md.analysis import output

    os.makedirs(out_dir, exist_ok=True)
    files = {}
    summary: Dict[str, Any] = {
        "trajectory": os.path.abspath(path), "n_atoms": int(len(first.numbers)),
        "units": {"length": "Å", "time": "fs", "D": "Å²/fs and cm²/s", "g(r)": "1"},
    }
    if rdf_result is not None:
        files["rdf.csv"] = output.write_csv(os.path.join(out_dir, "rdf.csv"), output.rdf_columns(rdf_result))
        files["rdf.png"] = output.plot_rdf(rdf_result, os.path.join(out_dir, "rdf.png"))
        summary["rdf"] = _rdf_summary(rdf_result)
    else:
        summary["rdf"] = {"skipped": f"the trajectory is not periodic in 3-D (pbc={first.pbc.tolist()}): "
                                     "g(r) needs a volume"}
    files["msd.csv"] = output.write_csv(os.path.join(out_dir, "msd.csv"), output.msd_columns(msd_result))
    files["msd.png"] = output.plot_msd(msd_result, os.path.join(out_dir, "msd.png"))
    summary["msd"] = _msd_summary(msd_result, n_blocks)
    files["analysis.json"] = os.path.join(out_dir, "analysis.json")
    summary["files"] = {name: os.path.abspath(p) for name, p in files.items()}
    output.write_json(files["analysis.json"], summary)
    return summary
