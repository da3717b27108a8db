"""Locality failure and its fix: a 5 Å local model vs the same model with a Coulomb tail.

Both models (cutoff 5 Å, l_max 1, 16 channels, 2 layers, float32) are trained on the same
split of ``nacl_clusters.extxyz`` (LAMMPS Tosi–Fumi BMH + Coulomb labels), then evaluated on
the random test split and on the separation curves of ``nacl_curves.extxyz``. With
``--bulk`` both are also trained on the periodic ``nacl_bulk.extxyz`` (Ewald for the Coulomb
model). Writes ``results/*.json``, ``results/curves.csv`` and ``results/nacl_curves.png``.

Run (background, ~1 h on one busy core):
    OMP_NUM_THREADS=1 nohup nice -n 19 .venv/bin/python benchmarks/coulomb/train_nacl.py > /tmp/nacl.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
RUNS = os.path.join(HERE, "runs")  # scratch (git-ignored by name: not committed)

MODEL = {"cutoff": 5.0, "l_max": 1, "channels": 16, "n_layers": 2, "radial_hidden": 16, "readout_hidden": 16}
KINDS = {"local": {}, "coulomb": {"long_range": "coulomb", "coulomb_real_space_cutoff": 8.0}}


def train_one(name, data, epochs, extra, n_valid, n_test, max_time_s, batch_size=8, stress_weight=0.0, reuse=False):
    from mlip.train import TrainConfig, train

    done = os.path.join(RUNS, name, "test_metrics.json")
    if reuse and os.path.exists(done):
        return os.path.join(RUNS, name, "best.pt"), json.load(open(done))

    cfg = TrainConfig.from_dict({
        "data": {"train": data, "n_valid": n_valid, "n_test": n_test, "split_seed": 0},
        "model": {**MODEL, **extra},
        "training": {"epochs": epochs, "batch_size": batch_size, "lr": 0.01, "dtype": "float32", "progress": False,
                     "scheduler": "plateau", "plateau_patience": 15, "early_stopping_patience": 60, "max_time_s": max_time_s,
                     "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": stress_weight}},
        "output": os.path.join(RUNS, name),
    })
    best = train(cfg, progress=lambda row: print(name, row["epoch"], f"{row['train_loss']:.4g}", f"{row['valid_loss']:.4g}",
                                                 f"E {row.get('valid_energy_mae_meV/atom', 0):.3g}", f"F {row.get('valid_forces_mae_meV/A', 0):.3g}", flush=True))
    return best, json.load(open(os.path.join(RUNS, name, "test_metrics.json")))


def curve_predictions(potential_path):
    import ase.io

    import mlip

    pot = mlip.load_potential(potential_path, dtype=torch.float64)
    rows = []
    for atoms in ase.io.read(os.path.join(HERE, "nacl_curves.extxyz"), ":"):
        s = mlip.system_from_atoms(atoms, dtype=torch.float64)
        pred = pot(s, mlip.neighbor_list(s, pot.cutoff))
        reference = atoms.calc.results["energy"]  # extxyz puts "energy" into a SinglePointCalculator
        rows.append((atoms.info["curve"], float(atoms.info["d_A"]), float(reference), float(pred.energy), len(atoms)))
    return rows


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r[0] for r in next(iter(curves.values()))})
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, curve in zip(axes[0], names):
        ref = [(d, e) for c, d, e, _, _ in curves["local"] if c == curve]
        e0 = ref[-1][1]
        ax.plot([d for d, _ in ref], [e - e0 for _, e in ref], "k-", lw=2, label="LAMMPS BMH + Coulomb")
        for name, style in (("local", "C3--"), ("coulomb", "C0-")):
            pts = [(d, p) for c, d, _, p, _ in curves[name] if c == curve]
            ax.plot([d for d, _ in pts], [p - e0 for _, p in pts], style, label=f"{name} model" if name == "local" else "local + Coulomb tail")
        ax.axvline(MODEL["cutoff"], color="gray", ls=":", lw=1)
        ax.text(MODEL["cutoff"] + 0.1, ax.get_ylim()[0] * 0.9 + ax.get_ylim()[1] * 0.1, "cutoff 5 Å", color="gray", fontsize=8)
        ax.set_title(curve)
        ax.set_xlabel("separation d (Å)")
        ax.set_ylabel("E − E_ref(14 Å) (eV)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--max-time-s", type=float, default=1500.0)
    p.add_argument("--bulk", action="store_true", help="also train on the periodic bulk set")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs in runs/ (same settings)")
    args = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(RESULTS, exist_ok=True)
    summary, curves = {}, {}
    for name, extra in KINDS.items():
        best, test = train_one(f"clusters_{name}", os.path.join(HERE, "nacl_clusters.extxyz"), args.epochs, extra, 50, 100, args.max_time_s,
                               reuse=args.reuse)
        curves[name] = curve_predictions(best)
        far = [abs(p - e) / n for c, d, e, p, n in curves[name] if d > MODEL["cutoff"]]
        summary[name] = {"test": test, "curves_far_mae_meV_per_atom": 1000 * float(np.mean(far))}
        for curve in sorted({r[0] for r in curves[name]}):
            pts = [(d, e, pr) for c, d, e, pr, n in curves[name] if c == curve]
            e_ref = np.array([e for _, e, _ in pts]) - pts[-1][1]
            e_pred = np.array([pr for _, _, pr in pts]) - pts[-1][2]
            summary[name][f"curve_{curve}_max_abs_error_eV"] = float(np.max(np.abs(e_pred - e_ref)))
        json.dump(summary, open(os.path.join(RESULTS, "clusters_summary.json"), "w"), indent=2)
    with open(os.path.join(RESULTS, "curves.csv"), "w") as f:
        f.write("curve,d_A,n_atoms,reference_eV,local_eV,coulomb_eV\n")
        for a, b in zip(curves["local"], curves["coulomb"]):
            f.write(f"{a[0]},{a[1]:.4f},{a[4]},{a[2]:.6f},{a[3]:.6f},{b[3]:.6f}\n")
    plot(curves, os.path.join(RESULTS, "nacl_curves.png"))
    if args.bulk:
        bulk = {}
        for name, extra in KINDS.items():
            _, test = train_one(f"bulk_{name}", os.path.join(HERE, "nacl_bulk.extxyz"), args.epochs, extra, 15, 25, args.max_time_s,
                                batch_size=4, stress_weight=1.0, reuse=args.reuse)
            bulk[name] = test
            json.dump(bulk, open(os.path.join(RESULTS, "bulk_summary.json"), "w"), indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
