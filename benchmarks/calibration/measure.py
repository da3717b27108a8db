#!/usr/bin/env python3
"""How well a calibrated committee spread predicts the true force error, in and out of distribution.

For each committee (``best.pt`` of a run of committee.yaml, or a committee file such as ``mlip learn``'s
``committee.pt``; its stored scale is ignored, the raw
spread is refitted here): evaluate the raw spread σ_raw,i and the true error |ΔF_i| (eV/Å) on the
validation split, the test split and an out-of-distribution EMT set; fit the uncertainty scale on
the validation split by each method (RMSE matching; coverage of 2σ at 95 % and 90 %) and report on
every set: the fraction of atoms with |ΔF_i| < 2σ_i, the Spearman rank correlation between each
frame's mean (max) σ_i and its RMS |ΔF_i|, RMS error and RMS σ, plus the scale each set would want
itself (RMSE matching on that set). Out-of-distribution numbers are also given per kind of frame
and for the set without each kind.

Usage (repository root; see README.md):
    OMP_NUM_THREADS=1 python benchmarks/calibration/measure.py runs/calibration_committee \
        runs/calibration_committee_s1 runs/calibration_committee_s2 \
        [--split runs/cu_emt_split] [--ood benchmarks/active_learning/data/ood_test.extxyz] \
        [--out benchmarks/calibration/results]
Writes results/<run name>.json, results/summary.json, results/summary.md and calibration plots
(results/<run name>_<set>.png and .csv, scale of the default: 2σ coverage 95 % on the validation split).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from mlip.data import DataKeys, build_graphs, read_frames
from mlip.potential import load_potential
from mlip.train.calibration import ForceUncertainty, calibration_report, fit_scale, force_uncertainty
from mlip.train.calibration_plot import write_calibration_plot

KEYS = DataKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")
METHODS = {"rmse": ("rmse", 0.95), "coverage95": ("coverage", 0.95), "coverage90": ("coverage", 0.90)}
METRICS = ("coverage_2sigma", "spearman_frame_mean", "spearman_frame_max", "spearman_frame_max_error", "spearman_atom",
           "force_error_rms_eV_per_A", "sigma_rms_eV_per_A")


def name_of(run: Path) -> str:
    """A result-file name for a run folder (its name) or a committee file (its folder's name)."""
    return run.parent.name if run.is_file() else run.name


def subset(data: ForceUncertainty, frames: np.ndarray) -> ForceUncertainty:
    keep = np.isin(data.frame, frames)
    return ForceUncertainty(data.sigma_raw[keep], data.error[keep], data.frame[keep])


def brief(report) -> Dict[str, float]:
    return {k: getattr(report, k) for k in ("n_frames", "n_atoms", "scale") + METRICS}


def measure(run: Path, sets: Dict[str, str], kinds: List[str], out: Path) -> Dict:
    t0 = time.process_time()
    path = run if run.is_file() else run / "best.pt"
    pot = load_potential(path)
    stored = pot.uncertainty_scale
    pot.set_uncertainty_scale(1.0)  # raw spread
    data = {name: force_uncertainty(pot, build_graphs(read_frames(path, KEYS), pot.cutoff)) for name, path in sets.items()}
    result: Dict = {"run": str(run), "committee_size": pot.committee_size, "stored_scale": stored,
                    "self_fitted_scale": {n: fit_scale(d.sigma_raw, d.error) for n, d in data.items()}, "methods": {}}
    for method, (how, target) in METHODS.items():
        scale = fit_scale(data["valid"].sigma_raw, data["valid"].error, how, target)
        per_set = {n: brief(calibration_report(d, scale)) for n, d in data.items()}
        for kind in sorted(set(kinds)):
            frames = np.array([i for i, k in enumerate(kinds) if k == kind])
            per_set[f"ood:{kind}"] = brief(calibration_report(subset(data["ood"], frames), scale))
            others = np.array([i for i, k in enumerate(kinds) if k != kind])
            per_set[f"ood without {kind}"] = brief(calibration_report(subset(data["ood"], others), scale))
        result["methods"][method] = {"scale": scale, "sets": per_set}
        if method == "coverage95":  # the default of mlip train / mlip calibrate
            for n, d in data.items():
                write_calibration_plot(calibration_report(d, scale), out / f"{name_of(run)}_{n}.png", f"{name_of(run)}: {n}")
    result["cpu_s"] = time.process_time() - t0
    return result


def summarise(results: List[Dict]) -> Dict:
    """Mean and standard deviation over committees of every metric, per method and set."""
    out: Dict = {}
    for method in METHODS:
        out[method] = {"scale": _stats([r["methods"][method]["scale"] for r in results]), "sets": {}}
        for name in results[0]["methods"][method]["sets"]:
            rows = [r["methods"][method]["sets"][name] for r in results]
            out[method]["sets"][name] = {k: _stats([row[k] for row in rows]) for k in METRICS}
            out[method]["sets"][name]["n_frames"] = rows[0]["n_frames"]
    return out


def _stats(values) -> Dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def markdown(summary: Dict, n_runs: int) -> str:
    lines = [f"Mean ± standard deviation over {n_runs} committee(s). Scale fitted on the validation split.", ""]
    for method, block in summary.items():
        s = block["scale"]
        lines += [f"### {method} (scale {s['mean']:.3g} ± {s['std']:.2g})", "",
                  "| set | frames | coverage \\|ΔF\\|<2σ (%) | Spearman (mean σ, RMS err) | Spearman (max σ, RMS err) | "
                  "Spearman (max σ, max err) | Spearman (atoms) | RMS \\|ΔF\\| (meV/Å) | RMS σ (meV/Å) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, m in block["sets"].items():
            f = lambda k, mult=1.0, d=1: f"{mult * m[k]['mean']:.{d}f} ± {mult * m[k]['std']:.{d}f}"
            lines.append(f"| {name} | {m['n_frames']} | {f('coverage_2sigma', 100)} | {f('spearman_frame_mean', 1, 3)} | "
                         f"{f('spearman_frame_max', 1, 3)} | {f('spearman_frame_max_error', 1, 3)} | {f('spearman_atom', 1, 3)} | "
                         f"{f('force_error_rms_eV_per_A', 1000)} | {f('sigma_rms_eV_per_A', 1000)} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    import ase.io

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--split", type=Path, default=Path("runs/cu_emt_split"))
    p.add_argument("--ood", default="benchmarks/active_learning/data/ood_test.extxyz")
    p.add_argument("--out", type=Path, default=Path("benchmarks/calibration/results"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sets = {"valid": str(args.split / "valid.extxyz"), "test": str(args.split / "test.extxyz"), "ood": args.ood}
    kinds = [str(a.info.get("kind", "ood")) for a in ase.io.read(args.ood, ":")]
    results = []
    for run in args.runs:
        r = measure(run, sets, kinds, args.out)
        (args.out / f"{name_of(run)}.json").write_text(json.dumps(r, indent=1))
        print(f"{run}: CPU {r['cpu_s']:.0f} s; " + "; ".join(
            f"{m}: scale {b['scale']:.3g}, test cov {100 * b['sets']['test']['coverage_2sigma']:.1f} % rho "
            f"{b['sets']['test']['spearman_frame_mean']:.2f}, ood cov {100 * b['sets']['ood']['coverage_2sigma']:.1f} % "
            f"rho {b['sets']['ood']['spearman_frame_mean']:.2f}" for m, b in r["methods"].items()), flush=True)
        results.append(r)
    summary = summarise(results)
    (args.out / "summary.json").write_text(json.dumps({"runs": [str(r) for r in args.runs], "summary": summary}, indent=1))
    (args.out / "summary.md").write_text(markdown(summary, len(results)))
    print(markdown(summary, len(results)))


if __name__ == "__main__":
    main()
