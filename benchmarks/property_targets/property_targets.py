"""Property targets on Cu with EMT as the reference: 20 training frames, with and without EMT's
lattice constant, bulk modulus and C11/C12/C44 as targets.

Data: the pure-Cu frames of benchmarks/datasets/cu_emt.extxyz (the file also holds Cu–Au alloy
frames, which are not used). Held-out test set: 120 frames of the fcc MD blocks (32 and 108
atoms, 300–1200 K), fixed. Training: for each seed, 20 frames drawn from the remaining 32-atom
fcc MD frames; energies and forces only (no stress labels), no validation split (model
selection on the training loss, properties included). Both variants of a seed train on the
same frames with the same initial weights; they differ only by ``training.properties``.

EMT's own properties, and those of every trained potential, are computed the same way by
finite differences with ASE (fd_properties.py: pressure root, Birch–Murnaghan E(V) fit, stress
differences), independent of the autograd code used in training.

Run from the repository root (about 40 min on one core; measure one epoch first with --measure):

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/property_targets/property_targets.py \\
        > /tmp/property_targets.log 2>&1 &

Writes results/property_targets.{json,md,png}; scratch runs go to runs/property_targets/ (ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from mlip.atomic_io import atomic_open, atomic_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
DATA = os.path.join(ROOT, "benchmarks", "datasets", "cu_emt.extxyz")
RESULTS = os.path.join(HERE, "results")
RUNS = os.path.join(ROOT, "runs", "property_targets")

MODEL = {"cutoff": 4.5, "l_max": 1, "channels": 16, "n_layers": 2, "radial_hidden": 32, "readout_hidden": 16}
KEYS = {"energy": "emt_energy", "forces": "emt_forces", "stress": None}
PROPS = ("lattice_constant_A", "bulk_modulus_GPa", "c11_GPa", "c12_GPa", "c44_GPa")
N_TRAIN, N_TEST, TEST_SEED = 20, 120, 2024


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def write_frames(path, frames):
    import ase.io

    with atomic_path(path, suffix=".extxyz") as tmp:
        ase.io.write(tmp, frames, format="extxyz")


def make_data(seeds):
    """Writes runs/.../test.extxyz and train_s<seed>.extxyz; returns their paths."""
    import ase.io

    frames = ase.io.read(DATA, ":")
    md = [f for f in frames if set(f.get_chemical_symbols()) == {"Cu"} and f.info.get("config_type") == "fcc_md"]
    rng = np.random.default_rng(TEST_SEED)
    order = rng.permutation(len(md))
    test = [md[i] for i in order[:N_TEST]]
    pool = [md[i] for i in order[N_TEST:] if len(md[i]) == 32]
    os.makedirs(RUNS, exist_ok=True)
    paths = {"test": os.path.join(RUNS, "test.extxyz")}
    write_frames(paths["test"], test)
    for s in seeds:
        pick = np.random.default_rng(s).choice(len(pool), N_TRAIN, replace=False)
        paths[s] = os.path.join(RUNS, f"train_s{s}.extxyz")
        write_frames(paths[s], [pool[i] for i in sorted(pick)])
    return paths, {"n_md_frames": len(md), "n_test": len(test), "n_pool": len(pool),
                   "test_sizes": sorted({len(f) for f in test})}


def targets(ref, weight, lattice_weight):
    """EMT's a0, B and C11/C12/C44 as property targets on the one-atom primitive cell at a0."""
    cell = {"bulk": "Cu", "crystalstructure": "fcc", "a": ref["lattice_constant_A"]}
    return [
        {"kind": "lattice_constant", "structure": {"bulk": "Cu", "crystalstructure": "fcc"},
         "lattice_constant_A": ref["lattice_constant_A"], "modulus_scale_GPa": ref["bulk_modulus_from_c_GPa"],
         "weight": lattice_weight},
        # the autograd B at a0 is (C11 + 2 C12)/3 exactly: target EMT's value from the same stress differences
        {"kind": "bulk_modulus", "structure": cell, "bulk_modulus_GPa": ref["bulk_modulus_from_c_GPa"], "weight": weight},
        {"kind": "elastic_cubic", "structure": cell, "c11_GPa": ref["c11_GPa"], "c12_GPa": ref["c12_GPa"],
         "c44_GPa": ref["c44_GPa"], "weight": weight},
    ]


def config(train_path, test_path, out, seed, args, props):
    return {
        "data": {"train": train_path, "test": test_path, "n_valid": 0, "n_test": 0, "keys": KEYS},
        "model": dict(MODEL),
        "training": {"epochs": args.epochs, "batch_size": 4, "lr": args.lr, "dtype": args.dtype, "progress": False,
                     "scheduler": "cosine", "min_lr": args.lr / 50, "early_stopping_patience": None, "seed": seed,
                     "checkpoint_every": 50, "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 0.0},
                     "properties": props},
        "output": out,
    }


def evaluate_run(out, ref):
    import torch

    import mlip

    pot = mlip.load_potential(os.path.join(out, "best.pt"), dtype=torch.float64)
    from fd_properties import cubic_properties

    props = cubic_properties("Cu", "fcc", mlip.MLIPCalculator(pot), ref["lattice_constant_A"])
    dev = {k: 100.0 * (props[k] - ref[k]) / ref[k] for k in PROPS}
    report = json.load(open(os.path.join(out, "test_metrics.json")))
    return {"properties": props, "deviation_percent": dev, "forces_mae_meV_per_A": report["forces_mae_meV/A"],
            "energy_mae_meV_per_atom": report["energy_mae_meV/atom"], "best_epoch": pot.info.get("best_epoch")}


def train_one(name, train_path, test_path, seed, args, props):
    from mlip.train import TrainConfig, train

    out = os.path.join(RUNS, name)
    cfg = TrainConfig.from_dict(config(train_path, test_path, out, seed, args, props))
    cpu, wall = time.process_time(), time.time()
    train(cfg)
    return out, time.process_time() - cpu, time.time() - wall


def summary(runs, ref):
    out = {}
    for mode in ("frames_only", "with_targets"):
        rs = [r for r in runs if r["mode"] == mode]
        row = {}
        for k in PROPS:
            d = np.array([r["deviation_percent"][k] for r in rs])
            row[k] = {"mean_dev_percent": float(d.mean()), "std_dev_percent": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                      "max_abs_dev_percent": float(np.abs(d).max())}
        f = np.array([r["forces_mae_meV_per_A"] for r in rs])
        row["forces_mae_meV_per_A"] = {"mean": float(f.mean()), "std": float(f.std(ddof=1)) if len(f) > 1 else 0.0}
        out[mode] = row
    ratio = np.array([t["forces_mae_meV_per_A"] / f["forces_mae_meV_per_A"] for f in runs if f["mode"] == "frames_only"
                      for t in runs if t["mode"] == "with_targets" and t["seed"] == f["seed"]])
    out["force_mae_ratio_targets_over_frames"] = {"per_seed": ratio.tolist(), "mean": float(ratio.mean())}
    return out


def write_markdown(result, path):
    ref, s = result["emt"], result["summary"]
    names = {"lattice_constant_A": "a0 (Å)", "bulk_modulus_GPa": "B (GPa)", "c11_GPa": "C11 (GPa)",
             "c12_GPa": "C12 (GPa)", "c44_GPa": "C44 (GPa)"}
    lines = ["| property | EMT | frames only: deviation (mean ± sd, max) | with targets: deviation (mean ± sd, max) |",
             "|---|---|---|---|"]
    for k in PROPS:
        cells = [f"{s[m][k]['mean_dev_percent']:+.2f} ± {s[m][k]['std_dev_percent']:.2f} % ({s[m][k]['max_abs_dev_percent']:.2f} %)"
                 for m in ("frames_only", "with_targets")]
        lines.append(f"| {names[k]} | {ref[k]:.4g} | {cells[0]} | {cells[1]} |")
    f = [s[m]["forces_mae_meV_per_A"] for m in ("frames_only", "with_targets")]
    lines.append(f"| force MAE, held-out (meV/Å) | – | {f[0]['mean']:.1f} ± {f[0]['std']:.1f} | {f[1]['mean']:.1f} ± {f[1]['std']:.1f} |")
    ratio = s["force_mae_ratio_targets_over_frames"]
    lines += ["", f"Force-MAE ratio with/without targets per seed: {', '.join(f'{x:.3f}' for x in ratio['per_seed'])} "
              f"(mean {ratio['mean']:.3f}). Seeds {result['seeds']}, {result['settings']['epochs']} epochs, "
              f"CPU time per run {np.mean([r['cpu_s'] for r in result['runs']]):.0f} s (one shared core)."]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def write_figure(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    x = np.arange(len(PROPS))
    for k, (mode, color) in enumerate((("frames_only", "tab:gray"), ("with_targets", "tab:blue"))):
        devs = np.array([[r["deviation_percent"][p] for p in PROPS] for r in result["runs"] if r["mode"] == mode])
        ax.bar(x + (k - 0.5) * 0.38, np.abs(devs).mean(0), 0.38, color=color, label=mode.replace("_", " "))
        for row in devs:
            ax.plot(x + (k - 0.5) * 0.38, np.abs(row), "k.", ms=3)
        f = [r["forces_mae_meV_per_A"] for r in result["runs"] if r["mode"] == mode]
        bx.bar(k, np.mean(f), 0.6, color=color)
        bx.plot([k] * len(f), f, "k.", ms=3)
    ax.axhline(1.0, color="tab:red", lw=0.8, ls="--", label="1 %")
    ax.set_xticks(x, ["a0", "B", "C11", "C12", "C44"])
    ax.set_ylabel("|deviation from EMT| (%)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    bx.set_xticks([0, 1], ["frames\nonly", "with\ntargets"])
    bx.set_ylabel("held-out force MAE (meV/Å)")
    fig.suptitle(f"Cu, {N_TRAIN} EMT training frames; bars: mean of {len(result['seeds'])} seeds, dots: seeds", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=130, format="png")


def write_outputs(result, stem, tag):
    write_markdown(result, stem + ".md")
    write_figure(result, stem + ".png")
    if not tag:  # the figure of docs/training.md
        write_figure(result, os.path.join(ROOT, "docs", "figures", "property_targets.png"))
    log(f"wrote {stem}.json/.md/.png")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight", type=float, default=10.0, help="weight of the bulk-modulus and elastic targets")
    p.add_argument("--lattice-weight", type=float, default=1e4,
                   help="weight of the lattice-constant target (its residual is ~ the relative error of a, and the "
                        "moduli at the model's own a0 shift ~16x faster than a: dlnB/dlna = -3 B')")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--measure", action="store_true", help="time 2 epochs of each variant and stop")
    p.add_argument("--tag", default="", help="suffix of the result files")
    p.add_argument("--modes", nargs="+", default=["frames_only", "with_targets"], help="variants to train")
    p.add_argument("--channels", type=int, default=MODEL["channels"])
    p.add_argument("--replot", action="store_true", help="rewrite the table and figures from the results JSON")
    args = p.parse_args()
    if args.replot:
        stem = os.path.join(RESULTS, f"property_targets{args.tag}")
        result = json.load(open(stem + ".json"))
        write_outputs(result, stem, args.tag)
        return
    from ase.calculators.emt import EMT

    from fd_properties import cubic_properties

    paths, data_info = make_data(args.seeds)
    ref = cubic_properties("Cu", "fcc", EMT(), 3.59)
    log(f"EMT: {ref}")
    if args.measure:
        args.epochs = 2
        for mode, props in (("frames_only", []), ("with_targets", targets(ref, args.weight, args.lattice_weight))):
            _, cpu, wall = train_one(f"measure_{mode}", paths[args.seeds[0]], paths["test"], 0, args, props)
            log(f"{mode}: {cpu / 2:.1f} s CPU per epoch ({wall / 2:.1f} s wall)")
        return
    MODEL["channels"] = args.channels
    runs = []
    for seed in args.seeds:
        for mode, props in (("frames_only", []), ("with_targets", targets(ref, args.weight, args.lattice_weight))):
            if mode not in args.modes:
                continue
            out, cpu, wall = train_one(f"s{seed}_{mode}{args.tag}", paths[seed], paths["test"], seed, args, props)
            r = {"seed": seed, "mode": mode, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), **evaluate_run(out, ref)}
            runs.append(r)
            log(f"seed {seed} {mode}: dev % {({k: round(v, 3) for k, v in r['deviation_percent'].items()})} "
                f"F MAE {r['forces_mae_meV_per_A']:.2f} meV/Å, {cpu:.0f} s CPU")
    result = {"emt": ref, "seeds": args.seeds, "data": data_info, "model": dict(MODEL),
              "settings": {"epochs": args.epochs, "lr": args.lr, "weight": args.weight,
                           "lattice_weight": args.lattice_weight, "dtype": args.dtype,
                           "n_train": N_TRAIN, "batch_size": 4, "loss": "energy 1, forces 10, no stress labels"},
              "runs": runs}
    both = {"frames_only", "with_targets"} <= set(args.modes)
    if both:
        result["summary"] = summary(runs, ref)
    os.makedirs(RESULTS, exist_ok=True)
    stem = os.path.join(RESULTS, f"property_targets{args.tag}")
    with atomic_open(stem + ".json", "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    if both:
        write_outputs(result, stem, args.tag)


if __name__ == "__main__":
    main()
