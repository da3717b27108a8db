"""Markdown table and scatter plot of benchmarks/uncertainty/compare_uncertainty.py's results."""
from __future__ import annotations

import os
from typing import Dict

import numpy as np

from mlip.atomic_io import atomic_open, atomic_path

SETS = ("test", "ood", "test+ood")
LIMITS_MEV = (0.3, 3000.0)  # plot range, meV/Å; smaller values (symmetric frames with zero force) sit on the edge
PLOTTED = ("llpr(single)", "force_llpr(single)", "committee", "committee_spread(single)")


def _pm(v) -> str:
    return f"{v[0]:.2f} ± {v[1]:.2f}"


def table(results: Dict) -> str:
    lines = ["| predictor | set | force RMSE of its model (meV/Å) | Spearman per frame (bootstrap) | Spearman per atom (bootstrap) "
             "| observed/predicted RMSE | force components within 2σ/√3 |", "|---|---|---|---|---|---|---|"]
    for pname, by_set in results["predictors"].items():
        for sname in SETS:
            r = by_set.get(sname)
            if r is None:
                continue
            atom = _pm(r["atom_spearman_boot"]) if "atom_spearman_boot" in r else "–"
            ratio = f"{r['rmse_over_predicted']:.2f}" if "rmse_over_predicted" in r else "–"
            cov = f"{100 * r['coverage_2sigma']:.0f} %" if "coverage_2sigma" in r else "–"
            rmse = f"{r['force_rmse_meV_per_A']:.1f}" if "force_rmse_meV_per_A" in r else "–"
            lines.append(f"| {pname} | {sname} ({r['n_frames']}) | {rmse} | {_pm(r['frame_spearman_boot'])} | {atom} | {ratio} | {cov} |")
    return "\n".join(lines)


def write_report(results: Dict, evals: Dict, out: str) -> None:
    md = ["# Single-model LLPR vs committee spread (Cu–Au EMT)", "",
          "Written by benchmarks/uncertainty/compare_uncertainty.py. Spearman: mean ± std over bootstrap resamples of the frames "
          "(per atom: 200 resamples, atoms of the drawn frames pooled). Each σ is calibrated on the validation split and judged "
          "against the error of its own model; `committee_spread(single)` is the committee's σ against the single model's error.",
          "", table(results), "", "## Repeats: LLPR of each committee member (same architecture, independently trained)", "",
          "| predictor | set | models | Spearman per frame (mean ± std over models) | Spearman per atom |", "|---|---|---|---|---|"]
    for variant, by_set in results["over_members"].items():
        for sname, r in by_set.items():
            md.append(f"| {variant}(member k) | {sname} | {r['n_models']} | {_pm(r['frame_spearman'])} | {_pm(r['atom_spearman'])} |")
    md += ["", "## OOD set by kind (mean per-frame force RMSE, meV/Å: true / predicted; Spearman within the kind)", "",
           "| predictor | " + " | ".join(results["ood_kinds"]) + " |", "|---|" + "---|" * len(results["ood_kinds"])]
    for pname, kinds in results["ood_by_kind"].items():
        cells = [f"{k['true_rmse_meV_per_A']:.0f} / {k['pred_rmse_meV_per_A']:.0f} (ρ {k['frame_spearman']:+.2f})" for k in
                 (kinds[name] for name in results["ood_kinds"])]
        md.append(f"| {pname} | " + " | ".join(cells) + " |")
    md += ["", "## Paired differences to the committee (Spearman, same bootstrap resamples)", "",
          "| difference | frame: mean [95 % CI] | atom: mean [95 % CI] |", "|---|---|---|"]
    for k, v in results["paired_vs_committee"].items():
        md.append(f"| {k} | {v['frame_diff_mean']:+.2f} [{v['frame_diff_ci95'][0]:+.2f}, {v['frame_diff_ci95'][1]:+.2f}] "
                  f"| {v['atom_diff_mean']:+.2f} [{v['atom_diff_ci95'][0]:+.2f}, {v['atom_diff_ci95'][1]:+.2f}] |")
    n_par = results["n_parameters"]
    md += ["", f"## Cost (CPU s over the test split, median of 3, {results['n_threads']} thread(s))", "",
           f"Single model {n_par['single']} parameters; committee of {results['committee_size']} members of "
           f"{n_par['committee member']} parameters each. Timed on a shared machine: ratios are indicative, rerun on an idle one.",
           "", "| evaluation | CPU s |", "|---|---|"]
    md += [f"| {k} | {v:.2f} |" for k, v in results["cpu_s_test_split"].items()]
    md += ["", "Fitting (train covariance + validation calibration), CPU s: "
           + ", ".join(f"{k} {v:.0f}" for k, v in results["fit_cpu_s"].items()), ""]
    with atomic_open(os.path.join(out, "uncertainty.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    scatter(evals, out)


def scatter(evals: Dict, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p for p in PLOTTED if (p, "test") in evals]
    fig, axes = plt.subplots(2, len(names), figsize=(4 * len(names), 8), squeeze=False)
    for c, pname in enumerate(names):
        for sname, color in (("test", "tab:blue"), ("ood", "tab:orange")):
            ev = evals[(pname, sname)]
            true = np.array([1e3 * np.sqrt(np.mean(d ** 2)) for d in ev["dF"]])
            pred = np.array([1e3 * np.sqrt(np.mean(s ** 2) / 3) for s in ev["sigma"]])
            pred, true = np.clip(pred, *LIMITS_MEV), np.clip(true, *LIMITS_MEV)
            axes[0, c].scatter(pred, true, s=12, color=color, alpha=0.7, label=sname)
            err = 1e3 * np.concatenate([np.linalg.norm(d, axis=1) for d in ev["dF"]])
            sig = 1e3 * np.concatenate(ev["sigma"])
            err, sig = np.clip(err, *LIMITS_MEV), np.clip(sig, *LIMITS_MEV)
            axes[1, c].scatter(sig, err, s=2, color=color, alpha=0.3, label=sname)
        for r, what in enumerate(("frame force RMSE", "atom |ΔF|")):
            ax = axes[r, c]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.plot(LIMITS_MEV, LIMITS_MEV, "k--", lw=0.8)
            ax.set_xlim(*LIMITS_MEV)
            ax.set_ylim(*LIMITS_MEV)
            ax.set_xlabel("predicted frame RMSE sqrt(<σ²>/3) (meV/Å)" if r == 0 else "predicted σ_i (meV/Å)")
            ax.set_ylabel(f"true {what} (meV/Å)")
            ax.set_title(pname)
            ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(os.path.join(out, "scatter.png"), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
