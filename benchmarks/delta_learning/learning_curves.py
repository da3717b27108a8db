"""Δ-learning vs direct learning on the ethanol B3LYP set, GFN2-xTB as the baseline.

For each training-set size n, two identical small models (cutoff 5 Å, l_max 1, 16 channels,
2 layers, float32) are trained with ``mlip.train`` on the same frames:

* direct: targets ``dft_energy`` / ``dft_forces``;
* Δ:      ``model.baselines: [{kind: ase, calculator: gfn2-xtb}]`` with the GFN2-xTB labels
  stored in the data (``xtb_energy`` / ``xtb_forces``) as the cached baseline labels; the
  network learns DFT − xTB and the saved potential adds tblite's GFN2-xTB at run time.

Both are scored on the same held-out test frames against the DFT labels, i.e. errors of the
total (for Δ: tblite evaluated live + network). A snapshot of the first N frames of the data
file (which grows while it is being generated) fixes the split: test and validation frames
are drawn with a fixed seed, training sets of increasing size are nested.

Run (background):
    OMP_NUM_THREADS=1 nohup nice -n 19 .venv/bin/python benchmarks/delta_learning/learning_curves.py \
        --sizes 25 50 100 200 400 800 > /tmp/delta.log 2>&1 &
Writes ``results/learning_curves.json``, ``results/learning_curves.csv`` and
``results/learning_curves.png``; scratch runs go to ``runs/`` (not committed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "benchmarks", "datasets", "ethanol_dft.extxyz")
RESULTS = os.path.join(HERE, "results")
RUNS = os.path.join(HERE, "runs")

MODEL = {"cutoff": 5.0, "l_max": 1, "channels": 16, "n_layers": 2, "radial_hidden": 32, "readout_hidden": 16}
KEYS = {"energy": "dft_energy", "forces": "dft_forces"}
DELTA_KEYS = {**KEYS, "baseline_energy": "xtb_energy", "baseline_forces": "xtb_forces"}


def snapshot(n_frames):
    """Copy the first n_frames labelled frames to runs/ (the source file is still growing)."""
    import ase.io

    frames = ase.io.read(DATA, ":")
    if n_frames is not None:
        frames = frames[:n_frames]
    path = os.path.join(RUNS, f"ethanol_snapshot_{len(frames)}.extxyz")
    os.makedirs(RUNS, exist_ok=True)
    if not os.path.exists(path):
        ase.io.write(path, frames)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return path, len(frames), digest


def train_one(name, data, n_train, mode, args):
    from mlip.train import TrainConfig, train

    steps_per_epoch = math.ceil(n_train / args.batch_size)
    epochs = max(30, math.ceil(args.steps / steps_per_epoch))
    model = dict(MODEL)
    if mode == "delta":
        model["baselines"] = [{"kind": "ase", "calculator": "gfn2-xtb"}]
    cfg = TrainConfig.from_dict({
        "data": {"train": data, "n_valid": args.n_valid, "n_test": args.n_test, "split_seed": 0, "n_train": n_train,
                 "keys": DELTA_KEYS if mode == "delta" else KEYS},
        "model": model,
        "training": {"epochs": epochs, "batch_size": args.batch_size, "lr": 0.01, "dtype": "float32", "progress": False,
                     "scheduler": "plateau", "plateau_patience": max(10, epochs // 20), "early_stopping_patience": max(40, epochs // 5),
                     "max_time_s": args.max_time_s, "seed": 0, "loss": {"energy_weight": 1.0, "forces_weight": 10.0}},
        "output": os.path.join(RUNS, name),
    })
    start = time.time()
    train(cfg)
    report = json.load(open(os.path.join(RUNS, name, "test_metrics.json")))
    report.update({"mode": mode, "n_train_requested": n_train, "epochs_max": epochs, "wall_s": round(time.time() - start, 1)})
    return report


def baseline_only_errors(data, args):
    """Errors of GFN2-xTB alone on the same test frames (per-element shifts fitted on training frames)."""
    from mlip.data import DataKeys, read_frames, split_frames

    frames = read_frames(data, DataKeys.from_dict(DELTA_KEYS))
    train, _, test = split_frames(frames, args.n_valid, args.n_test, 0)
    zs = sorted({int(z) for f in frames for z in f.numbers})
    counts = lambda fs: np.array([[np.sum(f.numbers == z) for z in zs] for f in fs], dtype=float)
    diff = lambda fs: np.array([f.energy - f.baseline_energy for f in fs])
    mu, *_ = np.linalg.lstsq(counts(train), diff(train), rcond=None)
    e = (diff(test) - counts(test) @ mu) / np.array([f.n_atoms for f in test])
    f = np.concatenate([(x.forces - x.baseline_forces).reshape(-1) for x in test])
    return {"energy_mae_meV/atom": 1000 * float(np.mean(np.abs(e))), "forces_mae_meV/A": 1000 * float(np.mean(np.abs(f))),
            "forces_rmse_meV/A": 1000 * float(np.sqrt(np.mean(f**2)))}


def plot(results, path, n_frames):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, key, label in ((axes[0], "forces_mae_meV/A", "test force MAE (meV/Å)"), (axes[1], "energy_mae_meV/atom", "test energy MAE (meV/atom)")):
        for mode, style, name in (("direct", "C3o--", "direct (B3LYP)"), ("delta", "C0s-", "Δ on GFN2-xTB")):
            pts = sorted((r["n_train"], r[key]) for r in results["runs"] if r["mode"] == mode)
            if pts:
                ax.loglog([n for n, _ in pts], [v for _, v in pts], style, label=name)
        if "xtb_only" in results:
            ax.axhline(results["xtb_only"][key], color="gray", ls=":", lw=1, label="GFN2-xTB alone")
        sizes = sorted({r["n_train"] for r in results["runs"]})
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(n) for n in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("training frames")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"ethanol, {n_frames}-frame snapshot, same small model (l_max 1, 16 ch, 2 layers)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _write_json_atomic(path, obj):
    """Write JSON to a temporary file, then rename: never a half-written results file."""
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 400, 800])
    p.add_argument("--n-frames", type=int, default=None, help="snapshot size (default: all frames now in the file)")
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--n-valid", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=3000, help="optimizer steps per run (epochs follow)")
    p.add_argument("--max-time-s", type=float, default=1200.0)
    p.add_argument("--modes", nargs="+", default=["direct", "delta"], choices=["direct", "delta"])
    p.add_argument("--tag", default="")
    p.add_argument("--replot", default=None, help="only redraw the plot of this results JSON")
    args = p.parse_args()
    if args.replot:
        results = json.load(open(args.replot))
        plot(results, args.replot.replace(".json", ".png"), results["n_frames_used"])
        return
    torch.set_num_threads(1)
    data, n_frames, digest = snapshot(args.n_frames)
    pool = n_frames - args.n_test - args.n_valid
    sizes = [n for n in args.sizes if n <= pool]
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, f"learning_curves{args.tag}.json")
    results = {"data": os.path.relpath(DATA, ROOT), "n_frames_used": n_frames, "snapshot_sha256": digest, "n_test": args.n_test,
               "n_valid": args.n_valid, "model": MODEL, "steps": args.steps, "batch_size": args.batch_size, "runs": []}
    results["xtb_only"] = baseline_only_errors(data, args)
    for n in sizes:
        for mode in args.modes:
            r = train_one(f"n{n_frames}{args.tag}_{mode}_{n}", data, n, mode, args)
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
            _write_json_atomic(out, results)
            plot(results, out.replace(".json", ".png"), n_frames)
    csv = out.replace(".json", ".csv")
    with open(csv + ".tmp", "w") as f:
        f.write("mode,n_train,energy_mae_meV_per_atom,energy_rmse_meV_per_atom,forces_mae_meV_per_A,forces_rmse_meV_per_A,wall_s\n")
        for r in results["runs"]:
            f.write(f"{r['mode']},{r['n_train']},{r['energy_mae_meV/atom']:.3f},{r['energy_rmse_meV/atom']:.3f},"
                    f"{r['forces_mae_meV/A']:.2f},{r['forces_rmse_meV/A']:.2f},{r['wall_s']}\n")
    os.replace(csv + ".tmp", csv)


if __name__ == "__main__":
    main()
