"""The ``mlip analyze RUN_DIR`` subcommand: g(r), MSD and D, VACF and VDOS, cell and density of
an ``mlip md`` run folder.

Writes rdf.csv, rdf.png, msd.csv, msd.png, vacf.csv, vdos.csv, vdos.png, cell.csv, cell.png and
analysis.json to ``--output`` (default ``RUN_DIR/analysis``) and prints the headline numbers.
Units: Å, fs; D in cm²/s and Å²/fs; frequencies in THz and cm⁻¹; density in g/cm³.
Importing this module is cheap (numba, ASE and mdtraj load when the command runs).
"""
from __future__ import annotations

import math
import os

from md.analysis.msd import DEFAULT_MAX_LAG_FRAMES
from md.analysis.rdf import DEFAULT_BINS, DEFAULT_R_MAX_A
from md.analysis.vacf import DEFAULT_VACF_MAX_LAG_FRAMES, WINDOWS


def add_arguments(parser) -> None:
    """Add the ``mlip analyze`` arguments to an argparse (sub)parser."""
    parser.add_argument("run_dir", metavar="RUN_DIR", nargs="+",
                        help="output folder of an `mlip md` run (or a trajectory file); with --thermal-expansion, "
                             "the folders of NPT runs at several temperatures")
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
                        help="blocks of the error estimates of D and of the cell means (default 5)")
    parser.add_argument("--frame-interval-fs", dest="frame_interval_fs", type=float, default=None,
                        help="time between frames, fs, for a DCD trajectory without the run's config.yaml")
    parser.add_argument("--vacf-max-lag-frames", dest="vacf_max_lag_frames", type=int,
                        default=DEFAULT_VACF_MAX_LAG_FRAMES,
                        help=f"longest VACF lag + 1, in frames (default {DEFAULT_VACF_MAX_LAG_FRAMES})")
    parser.add_argument("--vdos-max-lag-fs", dest="vdos_max_lag_fs", type=float, default=None,
                        help="longest VACF lag transformed into the VDOS, fs (default half the run)")
    parser.add_argument("--vdos-window", dest="vdos_window", choices=WINDOWS, default="hann",
                        help="window over the VACF lags before the transform (default hann)")
    parser.add_argument("--vdos-unweighted", dest="mass_weighted", action="store_false",
                        help="VDOS from the plain VACF instead of the mass-weighted one")
    parser.add_argument("--finite-difference-velocities", dest="trajectory_velocities", action="store_false",
                        help="derive velocities from positions even when the trajectory has them")
    parser.add_argument("--cell-start-fs", dest="cell_start_fs", type=float, default=None,
                        help="cell/density statistics from this time on, fs (equilibration; default 0, and with "
                             "--thermal-expansion: after --start-fraction of each run)")
    parser.add_argument("--thermal-expansion", dest="thermal_expansion", action="store_true",
                        help="fit V(T) of the NPT runs RUN_DIR... (one structure, one pressure): volumetric, linear "
                             "and per-axis expansion coefficients; writes thermal_expansion.csv/.json/.png")
    parser.add_argument("--expansion-fit", dest="expansion_fit", choices=("linear", "quadratic"), default="linear",
                        help="polynomial of V(T) and L(T) for --thermal-expansion (default linear)")
    parser.add_argument("--reference-temperature-K", dest="reference_temperature_K", type=float, default=None,
                        help="temperature of the headline expansion coefficients, K (default: mean of the runs)")
    parser.add_argument("--start-fraction", dest="start_fraction", type=float, default=0.2,
                        help="--thermal-expansion: fraction of each run left out as equilibration (default 0.2)")


def main_from_namespace(args) -> int:
    """Run ``mlip analyze`` from parsed arguments (see :func:`add_arguments`); print a summary."""
    from md.analysis import analyze_run
    from md.analysis.trajectory_frames import AnalysisError

    run_dirs = args.run_dir if isinstance(args.run_dir, (list, tuple)) else [args.run_dir]
    if getattr(args, "thermal_expansion", False):
        return _thermal_expansion(args, run_dirs)
    if len(run_dirs) != 1:
        raise AnalysisError(f"give one RUN_DIR (got {len(run_dirs)}); several run folders only go with "
                            "--thermal-expansion")
    summary = analyze_run(run_dirs[0], args.out_dir, r_max_A=args.r_max_A, n_bins=args.n_bins,
                          rdf_start_fs=args.rdf_start_fs, max_lag_frames=args.max_lag_frames,
                          fit_start_fs=args.fit_start_fs, fit_end_fs=args.fit_end_fs, n_blocks=args.n_blocks,
                          frame_interval_fs=args.frame_interval_fs, vacf_max_lag_frames=args.vacf_max_lag_frames,
                          vdos_max_lag_fs=args.vdos_max_lag_fs, vdos_window=args.vdos_window,
                          mass_weighted=args.mass_weighted, trajectory_velocities=args.trajectory_velocities,
                          cell_start_fs=args.cell_start_fs or 0.0)
    rdf, msd = summary["rdf"], summary["msd"]
    if "skipped" in msd:  # e.g. a one-frame trajectory: no time axis
        print(f"analyze: {summary['trajectory']}: {summary['n_atoms']} atoms")
    else:
        print(f"analyze: {summary['trajectory']}: {msd['n_frames']} frames every {msd['frame_interval_fs']:g} fs, "
              f"{summary['n_atoms']} atoms")
    if "skipped" in rdf:
        print(f"g(r): skipped: {rdf['skipped']}")
    else:
        peaks = ", ".join(f"{k} {v:.3f} Å" for k, v in rdf["first_peak_A"].items())
        print(f"g(r): r_max {rdf['r_max_A']:g} Å, {rdf['n_frames']} frames; highest peak: {peaks}")
    d, err = msd.get("D_cm2_per_s"), msd.get("D_err_cm2_per_s")
    if "skipped" in msd:
        print(f"MSD: skipped: {msd['skipped']}")
    elif d is not None and math.isfinite(d):
        error = f" ± {err:.2g}" if err is not None and math.isfinite(err) else " (no error bar)"
        print(f"D = {d:.4g}{error} cm²/s ({msd['D_A2_per_fs']:.4g} Å²/fs), fit {msd['fit_start_fs']:g}–"
              f"{msd['fit_end_fs']:g} fs")
    else:
        print("D: not computed")
    _print_vdos_and_cell(summary)
    for note in msd.get("notes", []) + summary["vacf"].get("notes", []) + summary["vdos"].get("notes", []) \
            + summary["cell"].get("notes", []):
        print(f"note: {note}")
    print(f"outputs in {os.path.dirname(summary['files']['analysis.json'])}")
    return 0


def _print_vdos_and_cell(summary) -> None:
    vacf, vdos, cell = summary["vacf"], summary["vdos"], summary["cell"]
    if "skipped" in vacf:
        print(f"VACF/VDOS: skipped: {vacf['skipped']}")
    else:
        peak = vdos["peak_THz"]
        peak = (f"highest peak {peak:.4g} THz ({vdos['peak_cm-1']:.4g} cm⁻¹)" if math.isfinite(peak)
                else "no peak above ν = 0")
        print(f"VACF: velocities from {vacf['velocity_source']}, {vacf['n_frames']} frames, <m v²>/3k_B = "
              f"{vacf['kinetic_temperature_K']:.4g} K; VDOS: {peak}, resolution {vdos['resolution_THz']:.3g} THz, "
              f"Nyquist {vdos['nyquist_THz']:.4g} THz ({vdos['nyquist_cm-1']:.4g} cm⁻¹)")
    if "skipped" in cell:
        print(f"cell: skipped: {cell['skipped']}")
    else:
        parts = []
        for key, label in (("volume_A3", "V = {} Å³"), ("density_g_per_cm3", "ρ = {} g/cm³")):
            mean, error = cell[key]["mean"], cell[key]["error"]
            parts.append(label.format(f"{mean:.5g}" + (f" ± {error:.2g}" if error is not None and math.isfinite(error)
                                                       else "")))
        print(f"cell: {', '.join(parts)} (mean ± block error from {cell['start_fs']:g} fs)")


def _thermal_expansion(args, run_dirs) -> int:
    """``mlip analyze --thermal-expansion RUN...``: fit, write to --output (default: a
    ``thermal_expansion`` folder beside the runs) and print α (1/K)."""
    from md.analysis import output_thermal_expansion
    from md.analysis.thermal_expansion import thermal_expansion

    result = thermal_expansion(run_dirs, args.expansion_fit, args.reference_temperature_K, args.cell_start_fs,
                               args.start_fraction, args.n_blocks)
    out_dir = args.out_dir or os.path.join(os.path.commonpath([os.path.abspath(d) for d in run_dirs]),
                                           "thermal_expansion")
    summary = output_thermal_expansion.write(result, out_dir)
    for run in summary["runs"]:
        print(f"{run['run']}: T = {run['temperature_K']:.5g} ± {run['temperature_err_K']:.2g} K, "
              f"V = {run['volume_A3']:.6g} ± {run['volume_err_A3']:.2g} Å³ ({run['volume_source']})")
    chi2 = result.volume_fit.chi2_per_dof
    print(f"{result.fit_name} V(T) fit" + (f", χ²/dof = {chi2:.3g}" if math.isfinite(chi2) else "")
          + f"; at {result.reference_temperature_K:.5g} K: α_V = {result.alpha_V_per_K:.4g} ± "
            f"{result.alpha_V_err_per_K:.2g} /K, α_L = α_V/3 = {result.alpha_L_per_K:.4g} ± "
            f"{result.alpha_L_err_per_K:.2g} /K" + ("" if result.cubic else " (cell not cubic)"))
    if result.alpha_axes_per_K:
        print("per axis: " + ", ".join(f"α_{axis} = {value:.4g} ± {result.alpha_axes_err_per_K[axis]:.2g} /K"
                                       for axis, value in result.alpha_axes_per_K.items()))
    for note in result.notes:
        print(f"note: {note}")
    print(f"outputs in {out_dir}")
    return 0
