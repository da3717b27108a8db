"""The ``mlip analyze RUN_DIR`` subcommand: g(r), MSD and D of an ``mlip md`` run folder.

Writes rdf.csv, rdf.png, msd.csv, msd.png and analysis.json to ``--output`` (default
``RUN_DIR/analysis``) and prints the headline numbers. Units: Å, fs; D in cm²/s and Å²/fs.
Importing this module is cheap (numba, ASE and mdtraj load when the command runs).
"""
from __future__ import annotations

import math
import os

from md.analysis.msd import DEFAULT_MAX_LAG_FRAMES
from md.analysis.rdf import DEFAULT_BINS, DEFAULT_R_MAX_A


def add_arguments(parser) -> None:
    """Add the ``mlip analyze`` arguments to an argparse (sub)parser."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output folder of an `mlip md` run (or a trajectory file)")
    parser.add_argument("--rmax-A", dest="r_max_A", metavar="R", type=float, default=DEFAULT_R_MAX_A,
                        help=f"g(r) range, Å (default {DEFAULT_R_MAX_A}; periodic images are included, so any "
                             "value is right for any cell)")
    parser.add_argument("--bins", dest="n_bins", metavar="N", type=int, default=DEFAULT_BINS,
                        help=f"number of g(r) bins (default {DEFAULT_BINS})")
    parser.add_argument("--output", dest="out_dir", metavar="DIR", default=None, help="output folder (default RUN_DIR/analysis)")
    parser.add_argument("--rdf-start-fs", dest="rdf_start_fs", type=float, default=0.0,
                        help="leave frames before this time (fs) out of g(r) (equilibration; default 0)")
    parser.add_argument("--max-lag-frames", dest="max_lag_frames", type=int, default=DEFAULT_MAX_LAG_FRAMES,
                        help=f"longest MSD lag + 1, in frames (default {DEFAULT_MAX_LAG_FRAMES})")
    parser.add_argument("--fit-start-fs", dest="fit_start_fs", type=float, default=None,
                        help="start of the D fit window, fs (default 20 %% of a block)")
    parser.add_argument("--fit-end-fs", dest="fit_end_fs", type=float, default=None,
                        help="end of the D fit window, fs (default 80 %% of a block)")
    parser.add_argument("--blocks", dest="n_blocks", type=int, default=5,
                        help="blocks of the error estimate of D (default 5)")
    parser.add_argument("--frame-interval-fs", dest="frame_interval_fs", type=float, default=None,
                        help="time between frames, fs, for a DCD trajectory without the run's config.yaml")


def main_from_namespace(args) -> int:
    """Run ``mlip analyze`` from parsed arguments (see :func:`add_arguments`); print a summary."""
    from md.analysis import analyze_run

    summary = analyze_run(args.run_dir, args.out_dir, r_max_A=args.r_max_A, n_bins=args.n_bins,
                          rdf_start_fs=args.rdf_start_fs, max_lag_frames=args.max_lag_frames,
                          fit_start_fs=args.fit_start_fs, fit_end_fs=args.fit_end_fs, n_blocks=args.n_blocks,
                          frame_interval_fs=args.frame_interval_fs)
    rdf, msd = summary["rdf"], summary["msd"]
    print(f"analyze: {summary['trajectory']}: {msd['n_frames']} frames every {msd['frame_interval_fs']:g} fs, "
          f"{summary['n_atoms']} atoms")
    if "skipped" in rdf:
        print(f"g(r): skipped: {rdf['skipped']}")
    else:
        peaks = ", ".join(f"{k} {v:.3f} Å" for k, v in rdf["first_peak_A"].items())
        print(f"g(r): r_max {rdf['r_max_A']:g} Å, {rdf['n_frames']} frames; highest peak: {peaks}")
    d, err = msd["D_cm2_per_s"], msd["D_err_cm2_per_s"]
    if d is not None and math.isfinite(d):
        error = f" ± {err:.2g}" if err is not None and math.isfinite(err) else " (no error bar)"
        print(f"D = {d:.4g}{error} cm²/s ({msd['D_A2_per_fs']:.4g} Å²/fs), fit {msd['fit_start_fs']:g}–"
              f"{msd['fit_end_fs']:g} fs")
    else:
        print("D: not computed")
    for note in msd["notes"]:
        print(f"note: {note}")
    print(f"outputs in {os.path.dirname(summary['files']['analysis.json'])}")
    return 0
