"""Multi-fidelity vs direct vs Δ-learning on ethanol: B3LYP accuracy from N B3LYP frames.

Data: ``benchmarks/datasets/ethanol_dft.extxyz`` (1000 frames, each with B3LYP/def2-SVP
``dft_energy``/``dft_forces`` and GFN2-xTB ``xtb_energy``/``xtb_forces``). One seeded split
(``split_seed`` 0) fixes the 100 test and 25 validation structures for every run; the N B3LYP
training frames are the first N of the shuffled training structures (nested in N), the same
for all three methods:

* ``direct``: the N frames' B3LYP labels;
* ``delta``: the same N frames, B3LYP − GFN2-xTB (``model.baselines: [{kind: ase, calculator:
  gfn2-xtb}]``, the stored xTB labels as the baseline labels); test errors are of the total
  with tblite evaluated live;
* ``mf``: multi-fidelity, GFN2-xTB labels of all 875 training structures plus the N B3LYP
  ones (``data.fidelities``; f_b3lyp = ρ·f_xtb + δ), scored at the B3LYP fidelity, no xTB at
  run time.

Same small model as ``benchmarks/delta_learning/learning_curves.py`` (cutoff 5 Å, l_max 1, 16
channels, 2 layers, float32), batch 8, lr 0.01 with a cosine schedule over a fixed budget of
``--steps`` optimiser steps per run (epochs follow from the training-set size; no early
stopping; the best EMA weights on the validation frames are kept), 3 training seeds per point.

Then the MD speed of the multi-fidelity and the Δ potential (which runs tblite every step):
``mlip md`` on one ethanol molecule, NVE, CPU time per step (process time; the machine may be
shared, so wall-clock ratios would be skewed).

Run (background, resumable: finished runs in the results JSON are skipped):
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/multi_fidelity/ethanol_curves.py \\
        --steps 2000 --jobs 2 > /tmp/mf.log 2>&1 &
Writes ``results/ethanol_curves.{json,csv,png}``; scratch runs go to ``--runs-dir``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "benchmarks", "datasets", "ethanol_dft.extxyz")
RESULTS = os.path.join(HERE, "results")

MODEL = {"cutoff": 5.0, "l_max": 1, "channels": 16, "n_layers": 2, "radial_hidden": 32, "readout_hidden": 16}
DFT = {"energy": "dft_energy", "forces": "dft_forces"}
XTB = {"energy": "xtb_energy", "forces": "xtb_forces"}
N_FRAMES = 1000
MODES = ("direct", "delta", "mf")
LABELS = {"direct": "direct (B3LYP only)", "delta": "Δ on GFN2-xTB (xTB at run time)", "mf": "multi-fidelity (no xTB at run time)"}


def run_config(mode: str, n: int, seed: int, args, out: str) -> dict:
    """The ``mlip train`` config of one run (see the module doc)."""
    data = {"train": DATA, "n_valid": args.n_valid, "n_test": args.n_test, "split_seed": 0}
    model = {**MODEL, **json.loads(args.model)}
    if mode == "direct":
        data.update(n_train=n, keys=DFT)
    elif mode == "delta":
        data.update(n_train=n, keys={**DFT, "baseline_energy": "xtb_energy", "baseline_forces": "xtb_forces"})
        model["baselines"] = [{"kind": "ase", "calculator": "gfn2-xtb"}]
    else:
        data["fidelities"] = {"xtb": dict(XTB), "b3lyp": {**DFT, "n_train": n}}
        data["balance_fidelities"] = balance(args)
        model["fidelity_coupling"] = args.coupling
    return {"data": data, "model": model,
            "training": {"epochs": 1, "batch_size": args.batch_size, "lr": args.lr, "dtype": "float32", "progress": False,
                         "scheduler": "cosine", "min_lr": args.lr / 100, "early_stopping_patience": None, "seed": seed,
                         "loss": {"energy_weight": 1.0, "forces_weight": 10.0}},
            "output": out}


def balance(args):
    """``data.balance_fidelities`` of the MF runs: true, false (``--unbalanced``) or a share (``--balance``)."""
    if args.balance is not None:
        return args.balance
    return not args.unbalanced


def train_one(mode: str, n: int, seed: int, args) -> dict:
    """Train one run; its test errors (B3LYP labels) and costs."""
    import torch

    torch.set_num_threads(1)
    from mlip.train import TrainConfig, train

    out = os.path.join(args.runs_dir, f"{mode}_n{n}_s{seed}{args.tag}")
    cfg = run_config(mode, n, seed, args, out)
    n_graphs = n
    if mode == "mf":  # all xTB training structures + the N B3LYP frames repeated to the same share
        pool = N_FRAMES - args.n_valid - args.n_test
        from mlip.train.fidelity_setup import repeats

        n_graphs = pool + n * repeats(float(balance(args)), pool, n)
    epochs = max(1, math.ceil(args.steps / math.ceil(n_graphs / args.batch_size)))
    cfg["training"]["epochs"] = epochs
    start, cpu = time.time(), time.process_time()
    train(TrainConfig.from_dict(cfg))
    report = json.load(open(os.path.join(out, "test_metrics.json")))
    prefix = "b3lyp_" if mode == "mf" else ""
    row = {"mode": mode, "n_b3lyp": n, "seed": seed, "epochs": epochs,
           "steps": epochs * math.ceil(n_graphs / args.batch_size), "wall_s": round(time.time() - start, 1),
           "cpu_s": round(time.process_time() - cpu, 1), "n_test": report.get("n_test_b3lyp", report["n_test"])}
    for key in ("energy_mae_meV/atom", "energy_rmse_meV/atom", "forces_mae_meV/A", "forces_rmse_meV/A"):
        row[key] = report[prefix + key]
    if mode == "mf":
        row["xtb_forces_mae_meV/A"] = report["xtb_forces_mae_meV/A"]
        row["n_train_xtb"] = report["n_train_xtb"]
    row["potential"] = os.path.join(out, "best.pt")
    return row


def check_stored_xtb_labels(n_frames: int = 5) -> dict:
    """tblite's GFN2-xTB (what the Δ potential runs) against the stored xtb labels on a few frames."""
    import ase.io

    from mlip.baselines.ase_baseline import ExternalBaseline

    base = ExternalBaseline({"kind": "ase", "calculator": "gfn2-xtb"})
    de, df = [], []
    for atoms in ase.io.read(DATA, f":{n_frames}"):
        e, f, _ = base.label_atoms(atoms)
        de.append(abs(e - atoms.info["xtb_energy"]))
        df.append(float(np.abs(f - atoms.arrays["xtb_forces"]).max()))
    return {"frames": n_frames, "max_energy_diff_eV": max(de), "max_force_diff_eV_per_A": max(df)}


def md_speed(potentials: dict, structure: str, steps: int, out: str, repeats: int = 3) -> dict:
    """Steps per CPU second of ``mlip md`` (NVE, 0.5 fs, one thread) with each potential on
    ``structure``: a 2-step warm-up each, then ``repeats`` timed runs taken in turn (median)."""
    from mlip.cli import main

    def one(path, n, folder):
        cpu, wall = time.process_time(), time.time()
        assert main(["md", "--potential", path, "--structure", structure, "--steps", str(n), "--timestep-fs", "0.5",
                     "--temperature-K", "300", "--output", folder, "--backend", "auto"]) == 0
        return time.process_time() - cpu, time.time() - wall

    for mode, path in potentials.items():
        one(path, 2, os.path.join(out, f"warmup_{mode}"))
    times = {mode: [] for mode in potentials}
    for k in range(repeats):
        for mode, path in potentials.items():
            times[mode].append(one(path, steps, os.path.join(out, f"{mode}_{k}")))
    return {mode: {"steps": steps, "repeats": repeats, "cpu_s": [round(c, 2) for c, _ in t], "wall_s": [round(w, 2) for _, w in t],
                   "steps_per_cpu_s": steps / float(np.median([c for c, _ in t]))} for mode, t in times.items()}


def summarise(runs: list) -> list:
    """Mean and sample standard deviation over seeds per (mode, N)."""
    rows = []
    for mode in MODES:
        for n in sorted({r["n_b3lyp"] for r in runs if r["mode"] == mode}):
            pts = [r for r in runs if r["mode"] == mode and r["n_b3lyp"] == n]
            row = {"mode": mode, "n_b3lyp": n, "n_seeds": len(pts)}
            for key in ("forces_mae_meV/A", "energy_mae_meV/atom", "forces_rmse_meV/A", "xtb_forces_mae_meV/A"):
                if not all(key in p for p in pts):
                    continue
                v = np.array([p[key] for p in pts])
                row[key] = float(v.mean())
                row[key + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
            rows.append(row)
    return rows


def frame_reduction(summary: list, key: str = "forces_mae_meV/A") -> list:
    """For each Δ size N: the largest direct size whose error stays above Δ's even at the seed
    spread's edges (direct mean − std > Δ mean + std); the factor size/N is a lower bound."""
    direct = {r["n_b3lyp"]: r for r in summary if r["mode"] == "direct"}
    out = []
    for d in (r for r in summary if r["mode"] == "delta"):
        worse = [n for n, r in direct.items() if r[key] - r[key + "_std"] > d[key] + d[key + "_std"]]
        n_direct = max(worse) if worse else None
        out.append({"n_delta": d["n_b3lyp"], "direct_sizes_clearly_worse": sorted(worse),
                    "factor_at_least": None if n_direct is None else n_direct / d["n_b3lyp"],
                    "all_direct_sizes_worse": bool(worse) and len(worse) == len(direct)})
    return out


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = {"direct": "C3o--", "delta": "C0s-", "mf": "C2^-"}
    for ax, key, label in ((axes[0], "forces_mae_meV/A", "B3LYP test force MAE (meV/Å)"),
                           (axes[1], "energy_mae_meV/atom", "B3LYP test energy MAE (meV/atom)")):
        for mode in MODES:
            pts = [r for r in results["summary"] if r["mode"] == mode]
            if pts:
                ax.errorbar([r["n_b3lyp"] for r in pts], [r[key] for r in pts], yerr=[r[key + "_std"] for r in pts],
                            fmt=styles[mode], capsize=3, label=LABELS[mode])
        if "xtb_only" in results:
            ax.axhline(results["xtb_only"][key], color="gray", ls=":", lw=1, label="GFN2-xTB alone")
        sizes = sorted({r["n_b3lyp"] for r in results["summary"]})
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(n) for n in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xlabel("B3LYP training frames N")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"ethanol: mean ± std over {results['seeds_per_point']} seeds, {results['steps']} optimiser steps per run "
                 "(multi-fidelity also has GFN2-xTB labels of 875 structures)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown_table(results: dict) -> str:
    """The docs table: B3LYP test errors, mean ± std over seeds, per N and method."""
    by = {(r["mode"], r["n_b3lyp"]): r for r in results["summary"]}
    sizes = sorted({n for _, n in by})
    f = lambda r, k, d: "–" if r is None else f"{r[k]:.{d}f} ± {r[k + '_std']:.{d}f}"
    lines = ["| N (B3LYP) | direct F MAE | Δ F MAE | MF F MAE | MF / Δ (per seed) | direct E MAE | Δ E MAE | MF E MAE |",
             "|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        d, dl, mf = by.get(("direct", n)), by.get(("delta", n)), by.get(("mf", n))
        ratio = "–" if dl is None or mf is None else f"{mf['forces_mae_meV/A'] / dl['forces_mae_meV/A']:.2f}"
        per_seed = seed_ratios(results.get("runs", []), n)
        if per_seed and ratio != "–":
            ratio += f" ({min(per_seed):.2f}–{max(per_seed):.2f})"
        lines.append(f"| {n} | {f(d, 'forces_mae_meV/A', 1)} | {f(dl, 'forces_mae_meV/A', 1)} | {f(mf, 'forces_mae_meV/A', 1)} | "
                     f"{ratio} | {f(d, 'energy_mae_meV/atom', 2)} | {f(dl, 'energy_mae_meV/atom', 2)} | {f(mf, 'energy_mae_meV/atom', 2)} |")
    return "\n".join(lines)


def seed_ratios(runs: list, n: int, key: str = "forces_mae_meV/A") -> list:
    """MF / Δ of ``key`` per training seed at N = ``n`` (seeds with both runs)."""
    by = {(r["mode"], r["seed"]): r[key] for r in runs if r["n_b3lyp"] == n}
    return [by[("mf", s)] / by[("delta", s)] for s in sorted({s for _, s in by}) if ("mf", s) in by and ("delta", s) in by]


def _write_json_atomic(path: str, obj) -> None:
    from mlip.atomic_io import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(obj, indent=2).encode())


def _write_csv(path: str, summary: list) -> None:
    from mlip.atomic_io import atomic_write_bytes

    lines = ["mode,n_b3lyp,n_seeds,forces_mae_meV_per_A,forces_mae_std,energy_mae_meV_per_atom,energy_mae_std,"
             "forces_rmse_meV_per_A,forces_rmse_std"]
    for r in summary:
        lines.append(f"{r['mode']},{r['n_b3lyp']},{r['n_seeds']},{r['forces_mae_meV/A']:.2f},{r['forces_mae_meV/A_std']:.2f},"
                     f"{r['energy_mae_meV/atom']:.3f},{r['energy_mae_meV/atom_std']:.3f},{r['forces_rmse_meV/A']:.2f},"
                     f"{r['forces_rmse_meV/A_std']:.2f}")
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps per run (epochs follow)")
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--n-valid", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--model", default="{}", help='JSON overrides of the model section, e.g. \'{"channels": 32}\'')
    p.add_argument("--coupling", default="rho_delta", choices=("rho_delta", "heads"), help="multi-fidelity model")
    p.add_argument("--unbalanced", action="store_true", help="multi-fidelity without data.balance_fidelities")
    p.add_argument("--balance", type=float, default=None,
                   help="data.balance_fidelities as a share in (0, 1] (B3LYP frames repeated up to that share of the xTB count)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once (one thread each)")
    p.add_argument("--md-steps", type=int, default=200, help="steps of each MD speed run (0: skip)")
    p.add_argument("--tag", default="", help="suffix of the results and run names")
    p.add_argument("--runs-dir", default=os.path.join(tempfile.gettempdir(), "mlip_multi_fidelity_runs"))
    p.add_argument("--replot", action="store_true", help="only redraw the plot and tables from the results JSON")
    args = p.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    os.makedirs(args.runs_dir, exist_ok=True)
    out = os.path.join(RESULTS, f"ethanol_curves{args.tag}.json")
    results = json.load(open(out)) if os.path.exists(out) else {}
    if not args.replot:  # the settings of the runs (kept as they were when only replotting)
        results.update({"data": os.path.relpath(DATA, ROOT), "n_test": args.n_test, "n_valid": args.n_valid, "split_seed": 0,
                        "model": {**MODEL, **json.loads(args.model)}, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "schedule": "cosine",
                        "seeds_per_point": len(args.seeds), "coupling": args.coupling, "balance_fidelities": balance(args)})
    runs = results.setdefault("runs", [])
    if not args.replot:
        if "xtb_check" not in results:
            results["xtb_check"] = check_stored_xtb_labels()
        if "xtb_only" not in results:
            import sys

            sys.path.insert(0, os.path.join(ROOT, "benchmarks", "delta_learning"))
            from learning_curves import baseline_only_errors

            results["xtb_only"] = baseline_only_errors(DATA, args)
        done = {(r["mode"], r["n_b3lyp"], r["seed"]) for r in runs}
        todo = [(m, n, s) for n in args.sizes for s in args.seeds for m in args.modes if (m, n, s) not in done]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(train_one, m, n, s, args): (m, n, s) for m, n, s in todo}
            for fut in as_completed(futures):
                row = fut.result()
                runs.append(row)
                print(json.dumps(row), flush=True)
                results["summary"] = summarise(runs)
                _write_json_atomic(out, results)
        if args.md_steps:
            import ase.io

            from mlip.data import DataKeys, read_frames, split_frames

            _, _, test = split_frames(read_frames(DATA, DataKeys.from_dict(DFT)), args.n_valid, args.n_test, 0)
            molecule = test[0].to_atoms()
            structure = os.path.join(args.runs_dir, "ethanol_test0.extxyz")
            ase.io.write(structure, molecule)
            # speed only (no physics claim): 8 copies 8 Å apart, 72 atoms, where xTB's cost grows faster
            cluster = sum((molecule.copy() for _ in range(7)), molecule.copy())
            for k in range(8):
                cluster.positions[9 * k: 9 * k + 9] += 8.0 * np.array([k & 1, (k >> 1) & 1, (k >> 2) & 1])
            cluster_path = os.path.join(args.runs_dir, "ethanol_x8.extxyz")
            ase.io.write(cluster_path, cluster)
            n_md = 50 if 50 in args.sizes else args.sizes[0]
            pot = {r["mode"]: r["potential"] for r in runs if r["n_b3lyp"] == n_md and r["seed"] == args.seeds[0]}
            pot = {m: pot[m] for m in ("mf", "delta", "direct") if m in pot}
            results["md_speed"] = {"potentials_n_b3lyp": n_md}
            for name, path, steps in (("ethanol", structure, args.md_steps), ("ethanol_x8", cluster_path, max(args.md_steps // 4, 2))):
                speed = md_speed(pot, path, steps, os.path.join(args.runs_dir, f"md_{name}"))
                if "mf" in speed and "delta" in speed:
                    speed["mf_over_delta"] = speed["mf"]["steps_per_cpu_s"] / speed["delta"]["steps_per_cpu_s"]
                results["md_speed"][name] = speed
    results["summary"] = summarise(runs)
    results["delta_vs_direct_frame_reduction"] = frame_reduction(results["summary"])
    _write_json_atomic(out, results)
    _write_csv(out.replace(".json", ".csv"), results["summary"])
    plot(results, out.replace(".json", ".png"))
    print(json.dumps({k: results[k] for k in ("delta_vs_direct_frame_reduction", "md_speed", "xtb_check") if k in results}, indent=1))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
