"""Label efficiency of the active-learning loop against random selection, several seeds.

Runs ``mlip learn`` on a config (default configs/learn_small.yaml: a small committee from scratch;
``--config configs/learn_reship.yaml --name reship``: the shipped potential's committee extended
into its blind spots) with ``select.strategy`` uncertainty (the loop)
and random (frames drawn uniformly from the same kind of exploration MD), for each seed, then
prints and writes the curves (test force MAE on the out-of-distribution set vs labelled
frames, mean ± sample standard deviation over seeds) and the label-efficiency factor: how many
labels random selection needs to reach the loop's final error, divided by the loop's.

Usage (from the repository root; runs are resumable, so rerunning continues them)::

    python benchmarks/accuracy_vs_peers/split_data.py benchmarks/datasets/cu_emt.extxyz runs/cu_emt_split
    OMP_NUM_THREADS=1 python benchmarks/active_learning/label_efficiency.py --seeds 0 1 2 --jobs 2
    python benchmarks/active_learning/label_efficiency.py --seeds 0 1 2 --report-only

Results: benchmarks/active_learning/results/label_efficiency{,_NAME}.{md,json,png}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFIG = os.path.join(HERE, "configs", "learn_small.yaml")
RESULTS = os.path.join(HERE, "results")
STRATEGIES = ("uncertainty", "random")
KEY = "test_forces_mae_meV/A"


def run_dir(out: str, strategy: str, seed: int) -> str:
    return os.path.join(out, f"{strategy}_s{seed}")


def launch(out: str, strategy: str, seed: int, config_path: str = CONFIG, max_rounds: int = 0) -> int:
    """One loop run (resumed if its folder holds one); returns the exit status."""
    folder = run_dir(out, strategy, seed)
    with open(config_path) as fh:
        config = yaml.safe_load(fh)
    config.update(output=folder, seed=seed)
    config["select"]["strategy"] = strategy
    if max_rounds:
        config["stop"]["max_rounds"] = max_rounds
    stem = os.path.splitext(os.path.basename(config_path))[0]
    path = os.path.join(os.path.dirname(os.path.abspath(config_path)),  # next to the template: relative paths hold
                        f".generated_{stem}_{strategy}_s{seed}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    resume = ["--resume"] if os.path.exists(os.path.join(folder, "journal.json")) else []
    os.makedirs(out, exist_ok=True)
    with open(folder + ".log", "a") as log:
        return subprocess.call([sys.executable, "-m", "mlip.cli", "learn", path, *resume], cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))


def read_curve(folder: str, max_rounds: int = 6):
    """(labels, test force MAE meV/Å) of each committee (rounds 0..max_rounds) of one run, from
    its journal (a run still going, or one allowed more rounds, is cut at ``max_rounds``)."""
    with open(os.path.join(folder, "journal.json")) as fh:
        rows = [r for r in json.load(fh)["rows"] if r.get(KEY) is not None and r["round"] <= max_rounds]
    return np.array([float(r["labels"]) for r in rows]), np.array([float(r[KEY]) for r in rows])


def labels_to_reach(labels: np.ndarray, error: np.ndarray, target: float) -> float:
    """Labels at which the (running-minimum) curve first reaches ``target`` (linear
    interpolation between rounds); inf when it never does."""
    best = np.minimum.accumulate(error)
    hit = np.flatnonzero(best <= target)
    if len(hit) == 0:
        return float("inf")
    k = int(hit[0])
    if k == 0:
        return float(labels[0])
    x0, x1, y0, y1 = labels[k - 1], labels[k], best[k - 1], best[k]
    return float(x0 + (y0 - target) / (y0 - y1) * (x1 - x0)) if y0 != y1 else float(x1)


def report(out: str, seeds, name: str = "", max_rounds: int = 6, added_only: bool = False) -> dict:
    """Curves and factors; with ``added_only`` labels are counted from the start's (round 0's)
    set, i.e. only the frames the loop labelled (for a run that starts from ``initial_data``)."""
    curves = {s: {seed: read_curve(run_dir(out, s, seed), max_rounds) for seed in seeds} for s in STRATEGIES}
    if added_only:
        curves = {s: {seed: (c[0] - c[0][0], c[1]) for seed, c in per.items()} for s, per in curves.items()}
    summary = {"seeds": list(seeds), "curves": {}, "factor": {}}
    lines = ["| strategy | round | labels (mean) | test force MAE meV/Å (mean ± sd) |", "|---|---|---|---|"]
    for s in STRATEGIES:
        n = min(len(curves[s][seed][0]) for seed in seeds)
        labels = np.array([curves[s][seed][0][:n] for seed in seeds])
        errors = np.array([curves[s][seed][1][:n] for seed in seeds])
        summary["curves"][s] = {"labels": labels.tolist(), "errors": errors.tolist()}
        for r in range(n):
            sd = errors[:, r].std(ddof=1) if len(seeds) > 1 else float("nan")
            lines.append(f"| {s} | {r} | {labels[:, r].mean():.1f} | {errors[:, r].mean():.1f} ± {sd:.1f} |")
    factors = []
    for seed in seeds:
        la, ea = curves["uncertainty"][seed]
        lr, er = curves["random"][seed]
        target = float(np.min(ea))
        need_loop = labels_to_reach(la, ea, target)
        need_random = labels_to_reach(lr, er, target)
        factors.append(need_random / need_loop)
        summary["factor"][str(seed)] = {"target_meV_per_A": target, "labels_loop": need_loop,
                                        "labels_random": need_random, "max_labels_random": float(lr[-1])}
    finite = [f for f in factors if np.isfinite(f)]
    text = "\n".join(lines) + "\n\nLabel-efficiency factor per seed (labels random needs to reach the loop's best " \
        "test error / labels the loop needed): " + ", ".join(
            f"seed {seed}: {f:.2f}" if np.isfinite(f) else
            f"seed {seed}: > {summary['factor'][str(seed)]['max_labels_random'] / summary['factor'][str(seed)]['labels_loop']:.2f} "
            "(random never reached it)" for seed, f in zip(seeds, factors))
    if finite:
        text += f"\nfinite factors: mean {np.mean(finite):.2f}, min {np.min(finite):.2f}"
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    stem = os.path.join(RESULTS, "label_efficiency" + (f"_{name}" if name else ""))
    with open(stem + ".md", "w") as fh:
        fh.write(text + "\n")
    with open(stem + ".json", "w") as fh:
        json.dump(summary, fh, indent=2)
    plot(curves, seeds, stem + ".png", added_only)
    return summary


def plot(curves, seeds, path: str, added_only: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for s, colour in zip(STRATEGIES, ("tab:blue", "tab:orange")):
        n = min(len(curves[s][seed][0]) for seed in seeds)
        labels = np.array([curves[s][seed][0][:n] for seed in seeds]).mean(axis=0)
        errors = np.array([curves[s][seed][1][:n] for seed in seeds])
        sd = errors.std(axis=0, ddof=1) if len(seeds) > 1 else np.zeros(n)
        ax.errorbar(labels, errors.mean(axis=0), yerr=sd, fmt="o-", capsize=3, color=colour,
                    label=f"{'active learning' if s == 'uncertainty' else 'random frames'} ({len(seeds)} seeds)")
    ax.set_xlabel("labelled frames" + (" (added by the loop)" if added_only else ""))
    ax.set_ylabel("test force MAE, OOD set (meV/Å)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="loop runs at a time")
    parser.add_argument("--config", default=CONFIG, help="the loop config (template; seed, output and strategy are set per run)")
    parser.add_argument("--name", default="", help="suffix of the result files (label_efficiency_NAME.*)")
    parser.add_argument("--max-rounds", type=int, default=6, help="rounds of each run that the report reads")
    parser.add_argument("--added-labels", action="store_true",
                        help="count labels from the start's set (a run from initial_data: only the loop's own labels)")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES, help="arms to run")
    parser.add_argument("--random-rounds", type=int, default=0,
                        help="stop.max_rounds of the random arm (default: the config's), so that it can show how many "
                             "more labels it needs than the loop")
    parser.add_argument("--out", default=None, help="runs folder (default runs/al_small, or runs/al_NAME)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    args.out = args.out or os.path.join(ROOT, "runs", f"al_{args.name}" if args.name else "al_small")
    if not args.report_only:
        jobs = [(s, seed) for seed in args.seeds for s in args.strategies]
        with ThreadPoolExecutor(args.jobs) as pool:
            codes = list(pool.map(lambda job: launch(
                args.out, *job, config_path=os.path.abspath(args.config),
                max_rounds=args.random_rounds if job[0] == "random" else 0), jobs))
        failed = [job for job, code in zip(jobs, codes) if code != 0]
        if failed:
            sys.exit(f"runs failed: {failed} (see their .log files in {args.out})")
    report(args.out, args.seeds, args.name, args.max_rounds, args.added_labels)


if __name__ == "__main__":
    main()
