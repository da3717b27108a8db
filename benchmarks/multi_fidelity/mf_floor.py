"""How close can multi-fidelity get to Δ-learning? The trunk's floor, per seed.

Multi-fidelity (MF) predicts B3LYP as ρ·f_xTB + δ with f_xTB its *own* xTB prediction, while Δ
adds its δ to the exact xTB. If MF's δ were as good as Δ's and the two errors independent, MF's
B3LYP force error would be about the quadrature sum of its trunk's xTB error and Δ's error
(MAEs of independent, roughly Gaussian errors add in quadrature like RMSEs):

    floor(N) = sqrt(MF xTB error² + Δ error²)

so MF / Δ ≥ floor / Δ whatever the δ part. Reads the runs of ``ethanol_curves.py`` (MF and Δ
may come from different result files, e.g. MF trained longer) and prints, per N and seed: MF's
B3LYP and xTB force MAE, Δ's, the floor, MF / Δ, floor / Δ and MF / floor (how much of MF's
error the δ readout adds above the floor). Also the xTB error the trunk would need for
MF / Δ = ``--target`` (1.3) if its δ part were Δ-quality: sqrt(target² − 1) · Δ.

Usage: python benchmarks/multi_fidelity/mf_floor.py --mf results/ethanol_curves_big40000.json \\
           --delta results/ethanol_curves_big20000.json [--target 1.3] [--markdown]
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
KEY, XTB = "forces_mae_meV/A", "xtb_forces_mae_meV/A"


def rows(mf_runs: list, delta_runs: list, target: float) -> list:
    """One row per (N, seed) with both an MF and a Δ run."""
    delta = {(r["n_b3lyp"], r["seed"]): r[KEY] for r in delta_runs if r["mode"] == "delta"}
    out = []
    for r in sorted((r for r in mf_runs if r["mode"] == "mf"), key=lambda r: (r["n_b3lyp"], r["seed"])):
        d = delta.get((r["n_b3lyp"], r["seed"]))
        if d is None or XTB not in r:
            continue
        floor = math.hypot(r[XTB], d)
        out.append({"n_b3lyp": r["n_b3lyp"], "seed": r["seed"], "steps": r["steps"], "mf": r[KEY], "mf_xtb": r[XTB],
                    "delta": d, "floor": floor, "mf_over_delta": r[KEY] / d, "floor_over_delta": floor / d,
                    "mf_over_floor": r[KEY] / floor, "xtb_needed": math.sqrt(target**2 - 1.0) * d})
    return out


def summary(table: list) -> list:
    """Mean and sample std over seeds per N."""
    out = []
    for n in sorted({r["n_b3lyp"] for r in table}):
        pts = [r for r in table if r["n_b3lyp"] == n]
        row = {"n_b3lyp": n, "n_seeds": len(pts)}
        for key in ("mf", "mf_xtb", "delta", "floor", "mf_over_delta", "floor_over_delta", "mf_over_floor", "xtb_needed"):
            v = np.array([p[key] for p in pts])
            row[key], row[key + "_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(row)
    return out


def markdown(rows_: list, target: float) -> str:
    f = lambda r, k, d: f"{r[k]:.{d}f}" + (f" ± {r[k + '_std']:.{d}f}" if r["n_seeds"] > 1 else "")
    lines = ["| N | seeds | MF B3LYP F MAE | MF's xTB F MAE | Δ F MAE | floor √(xTB² + Δ²) | MF / Δ | floor / Δ | MF / floor "
             f"| xTB error needed for {target:g}× |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows_:
        lines.append(f"| {r['n_b3lyp']} | {r['n_seeds']} | {f(r, 'mf', 1)} | {f(r, 'mf_xtb', 1)} | {f(r, 'delta', 1)} | "
                     f"{f(r, 'floor', 1)} | {f(r, 'mf_over_delta', 2)} | {f(r, 'floor_over_delta', 2)} | "
                     f"{f(r, 'mf_over_floor', 2)} | {f(r, 'xtb_needed', 1)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mf", required=True, help="results JSON with the MF runs")
    p.add_argument("--delta", required=True, nargs="+", help="results JSON(s) with the Δ runs (same N and seeds)")
    p.add_argument("--target", type=float, default=1.3, help="the MF / Δ goal")
    p.add_argument("--markdown", action="store_true", help="print the docs table")
    args = p.parse_args()
    load = lambda path: json.load(open(path if os.path.isabs(path) else os.path.join(HERE, path)))["runs"]
    delta_runs = [r for path in args.delta for r in load(path)]
    table = rows(load(args.mf), delta_runs, args.target)
    if not table:
        raise SystemExit("no (N, seed) has both an MF run (with its xTB error) and a Δ run")
    for r in table:
        print(f"N={r['n_b3lyp']:4d} seed {r['seed']}: MF {r['mf']:5.1f} (xTB {r['mf_xtb']:4.1f})  Δ {r['delta']:5.1f}  "
              f"floor {r['floor']:5.1f}  MF/Δ {r['mf_over_delta']:.2f}  floor/Δ {r['floor_over_delta']:.2f}  "
              f"MF/floor {r['mf_over_floor']:.2f}  [meV/Å]")
    if args.markdown:
        print(markdown(summary(table), args.target))


if __name__ == "__main__":
    main()
