"""Figures for docs/benchmarks.md, made from the committed result files only (no runs here).

    .venv/bin/python benchmarks/plots/make_figures.py [--out docs/figures] [--only speed,drift]

Each figure reads its result files; when one is missing the figure is skipped with a line
naming the file (results from other benchmarks may land later), and the others are still
made. PNGs are written atomically (temp file + rename), 100 dpi, each well under 150 kB.

=====================  ======================================================================
figure                 result files
=====================  ======================================================================
speed.png              benchmarks/results/kernels.json (mlip reference / native / NequIP),
                       benchmarks/results/model_vs_peers.json (MACE; a separate run)
learning_curves.png    benchmarks/delta_learning/results/learning_curves.json
coulomb.png            benchmarks/coulomb/results/{curves.csv, clusters_summary.json,
                       bulk_summary.json}
drift.png              benchmarks/results/drift.json (benchmarks/plots/drift_figure.py)
validation.png         potentials/cuau-emt/validation.json
accuracy_vs_peers.png  benchmarks/accuracy_vs_peers/results/accuracy_cu_emt.json (optional)
=====================  ======================================================================

Units: atom·steps/s (speed), meV/atom and meV/Å (errors), eV (binding curves), fs (time).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DPI = 100


class MissingResult(Exception):
    """A result file a figure needs is not there (the figure is skipped)."""


def _path(*parts: str) -> str:
    path = os.path.join(REPO, *parts)
    if not os.path.exists(path):
        raise MissingResult(os.path.relpath(path, REPO))
    return path


def _load_json(*parts: str):
    with open(_path(*parts), encoding="utf-8") as handle:
        return json.load(handle)


def _save(fig, out_dir: str, name: str) -> str:
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


# -- (a) speed vs peers ---------------------------------------------------------------------
SPEED_CODES = (("mlip reference", "mlip reference", "#9ecae1"), ("mlip native", "mlip native", "#3182bd"),
               ("mlip native+spline", "mlip native + spline", "#08519c"), ("nequip", "NequIP 0.19", "#fdae6b"),
               ("mace", "MACE (MP-0 small shape)†", "#e6550d"))


def figure_speed(out_dir: str) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    kernels = [r for r in _load_json("benchmarks", "results", "kernels.json")["rows"] if r["threads"] == 1]
    peers = _load_json("benchmarks", "results", "model_vs_peers.json")["rows"]
    groups = sorted({(r["system"], r["dtype"]) for r in kernels}, key=lambda g: (g[0].rstrip("0123456789"),
                                                                                int("".join(c for c in g[0] if c.isdigit())), g[1]))
    rate: Dict[tuple, float] = {(r["model"], r["system"], r["dtype"]): r["atom_steps_per_s"] for r in kernels}
    ratio: Dict[tuple, float] = {}
    for (model, system, dtype), value in list(rate.items()):
        if ("nequip", system, dtype) in rate:
            ratio[(model, system, dtype)] = value / rate[("nequip", system, dtype)]
    for r in peers:  # MACE from its own run; its ratio against the NequIP of that same run
        if r["model"] == "mace":
            rate[("mace", r["system"], r["dtype"])] = r["atom_steps_per_s"]
            nequip = [p for p in peers if p["model"] == "nequip" and (p["system"], p["dtype"]) == (r["system"], r["dtype"])]
            if nequip:
                ratio[("mace", r["system"], r["dtype"])] = r["atom_steps_per_s"] / nequip[0]["atom_steps_per_s"]

    fig, axes = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True)
    x = np.arange(len(groups))
    width = 0.8 / len(SPEED_CODES)
    for k, (model, label, color) in enumerate(SPEED_CODES):
        for ax, table in zip(axes, (rate, ratio)):
            values = [table.get((model, s, d), np.nan) for s, d in groups]
            ax.bar(x + (k - (len(SPEED_CODES) - 1) / 2) * width, values, width, color=color,
                   label=label if ax is axes[0] else None, hatch="//" if model == "mace" else None,
                   edgecolor="white" if model != "mace" else "black", linewidth=0.4)
    axes[0].set_yscale("log")
    axes[0].set_ylim(top=5.0 * max(rate.values()))  # room for the legend
    axes[0].set_ylabel("atom·steps/s (1 core)")
    axes[0].set_title("Energy + forces through the ASE calculator, 1 thread (higher is better)")
    axes[0].legend(ncol=3, fontsize=8, loc="upper left")
    axes[1].set_yscale("log")
    axes[1].axhline(1.0, color="0.3", lw=0.8)
    axes[1].set_ylabel("× NequIP (same run)")
    axes[1].set_xticks(x, [f"{s}\n{d}" for s, d in groups], fontsize=8)
    fig.text(0.01, 0.0, "† MACE: only cu500/water192 float32, from benchmarks/results/model_vs_peers.json (an "
             "earlier run on a busier machine); its ratio is against the NequIP of that run. Others: kernels.json.",
             fontsize=7.5)
    return _save(fig, out_dir, "speed.png")


# -- (b) Δ-learning learning curves ----------------------------------------------------------
def figure_learning_curves(out_dir: str) -> str:
    import matplotlib.pyplot as plt

    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    data = _load_json("benchmarks", "delta_learning", "results", "learning_curves.json")
    long_runs = []  # the same runs with 4x the optimiser steps at the large sizes, where present
    for name in ("learning_curves_40k_direct.json", "learning_curves_40k_delta.json", "learning_curves_800_40k.json"):
        if os.path.exists(_path("benchmarks", "delta_learning", "results", name)):
            long_runs += _load_json("benchmarks", "delta_learning", "results", name)["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    quantities = (("energy_mae_meV/atom", "energy MAE (meV/atom)"), ("forces_mae_meV/A", "force MAE (meV/Å)"))
    styles = {"direct": ("direct (learn DFT)", "o-", "#e6550d"), "delta": ("Δ on GFN2-xTB", "s-", "#3182bd")}
    for ax, (key, label) in zip(axes, quantities):
        for mode, (name, marker, color) in styles.items():
            runs = sorted((r for r in data["runs"] if r["mode"] == mode), key=lambda r: r["n_train"])
            ax.plot([r["n_train"] for r in runs], [r[key] for r in runs], marker, color=color, label=name + ", 10k steps")
            long = sorted((r for r in long_runs if r["mode"] == mode), key=lambda r: r["n_train"])
            if long:
                ax.plot([r["n_train"] for r in long], [r[key] for r in long], marker[0] + ":", color=color,
                        markerfacecolor="white", label=name + ", 40k steps")
        ax.set_xscale("log")
        ax.set_yscale("log")
        n_train = sorted({r["n_train"] for r in data["runs"]})
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(n_train, [str(n) for n in n_train])
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xlabel("training frames")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Ethanol B3LYP, test set of {data['n_test']} frames (l_max {data['model']['l_max']}, "
                 f"{data['model']['channels']} channels, {data['model']['n_layers']} layers)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "learning_curves.png")


# -- (c) Coulomb locality --------------------------------------------------------------------
def figure_coulomb(out_dir: str) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    with open(_path("benchmarks", "coulomb", "results", "curves.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    clusters = _load_json("benchmarks", "coulomb", "results", "clusters_summary.json")
    bulk = _load_json("benchmarks", "coulomb", "results", "bulk_summary.json")
    curves = list(dict.fromkeys(r["curve"] for r in rows))
    fig, axes = plt.subplots(1, len(curves) + 1, figsize=(4 * (len(curves) + 1) - 1, 3.6))
    for ax, curve in zip(axes, curves):
        sel = [r for r in rows if r["curve"] == curve]
        d = np.array([float(r["d_A"]) for r in sel])
        for key, label, style in (("reference_eV", "reference", "k-"), ("local_eV", "local (5 Å)", "--"),
                                  ("coulomb_eV", "local + Coulomb", ":")):
            ax.plot(d, [float(r[key]) for r in sel], style, label=label, lw=1.6)
        ax.set_title(curve, fontsize=9)
        ax.set_xlabel("separation d (Å)")
    axes[0].set_ylabel("energy (eV)")
    axes[0].legend(fontsize=8)
    metrics = (("clusters E", clusters["local"]["test"]["energy_mae_meV/atom"], clusters["coulomb"]["test"]["energy_mae_meV/atom"]),
               ("clusters F", clusters["local"]["test"]["forces_mae_meV/A"], clusters["coulomb"]["test"]["forces_mae_meV/A"]),
               ("far curves E", clusters["local"]["curves_far_mae_meV_per_atom"], clusters["coulomb"]["curves_far_mae_meV_per_atom"]),
               ("bulk E", bulk["local"]["energy_mae_meV/atom"], bulk["coulomb"]["energy_mae_meV/atom"]),
               ("bulk F", bulk["local"]["forces_mae_meV/A"], bulk["coulomb"]["forces_mae_meV/A"]))
    ax = axes[-1]
    x = np.arange(len(metrics))
    ax.bar(x - 0.2, [m[1] for m in metrics], 0.4, label="local (5 Å)", color="#e6550d")
    ax.bar(x + 0.2, [m[2] for m in metrics], 0.4, label="local + Coulomb", color="#3182bd")
    ax.set_yscale("log")
    ax.set_xticks(x, [m[0] for m in metrics], rotation=30, fontsize=8)
    ax.set_ylabel("test MAE (E: meV/atom, F: meV/Å)")
    ax.set_title("NaCl test errors", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle("NaCl: a 5 Å local model flattens beyond its cutoff; local + Coulomb tail follows the reference", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "coulomb.png")


# -- (d) energy drift and the shadow Hamiltonian ---------------------------------------------
def figure_drift(out_dir: str) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    data = _load_json("benchmarks", "results", "drift.json")
    n_atoms = data["n_atoms"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colors = ["#3182bd", "#31a354", "#e6550d", "#756bb1", "#636363"]
    labels = []
    for run, color in zip(data["runs"], colors):
        label = f"h = {run['timestep_fs']:g} fs" + (", float32 weights" if run["model_dtype"] == "float32" else "")
        labels.append(label)
        style = "--" if run["model_dtype"] == "float32" else "-"
        energy = 1e3 * (np.array(run["energy_eV"]) - run["energy_eV"][0]) / n_atoms
        axes[0].plot(run["time_fs"], energy, style, color=color, lw=1.0, label=label)
        times = dict(zip(run["steps"], run["time_fs"]))
        shadow = 1e3 * (np.array(run["shadow_eV"]) - run["shadow_eV"][0]) / n_atoms
        axes[1].plot([times[s] for s in run["shadow_steps"]], shadow, style, color=color, lw=1.0, label=label)
    low, high = axes[0].get_ylim()
    axes[1].set_ylim(low, high)  # same scale: H wiggles, H̃ stays flat
    axes[0].set_title("total energy H = K + U", fontsize=9)
    axes[1].set_title("shadow Hamiltonian H̃ (order 8), same scale", fontsize=9)
    for ax in axes[:2]:
        ax.set_xlabel("time (fs)")
        ax.set_ylabel("change since t = 0 (meV/atom)")
    axes[0].legend(fontsize=7)
    x = np.arange(len(data["runs"]))
    h_rms = [r["report"]["rms_meV_per_atom"] for r in data["runs"]]
    s_rms = [r["report"]["shadow_rms_meV_per_atom"] for r in data["runs"]]
    axes[2].bar(x - 0.2, h_rms, 0.4, label="H", color="0.55")
    axes[2].bar(x + 0.2, s_rms, 0.4, label="H̃", color="#3182bd")
    axes[2].set_yscale("log")
    axes[2].set_xticks(x, [lab.replace(", ", "\n") for lab in labels], fontsize=8)
    axes[2].set_ylabel("RMS about linear fit (meV/atom)")
    axes[2].set_title("fluctuation: H ∝ h², H̃ ≈ 0 (float32 forces: round-off)", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"NVE, {data['potential']}, {n_atoms} Cu atoms from {data['initial_temperature_K']:g} K "
                 f"Maxwell–Boltzmann on the lattice (state float64)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "drift.png")


# -- shipped potential validation ------------------------------------------------------------
VALIDATION_LABELS = (("lattice_constant_A", "a"), ("C11_GPa", "C11"), ("C12_GPa", "C12"), ("C44_GPa", "C44"),
                     ("vacancy_formation_eV", "E_vac"), ("rdf_first_peak_A", "g(r) peak r"),
                     ("rdf_first_peak_height", "g(r) peak height"))


def figure_validation(out_dir: str) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    data = _load_json("potentials", "cuau-emt", "validation.json")
    keys = [(k, lab) for k, lab in VALIDATION_LABELS if k in data["EMT"] and k in data["mlip"]]
    diff = [100.0 * (data["mlip"][k] / data["EMT"][k] - 1.0) for k, _ in keys]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(keys))
    ax.bar(x, diff, color=["#3182bd" if abs(d) <= 2.0 else "#e6550d" for d in diff])
    for xi, d in zip(x, diff):
        ax.annotate(f"{d:+.1f} %" if abs(d) >= 0.05 else f"{d:+.2f} %", (xi, d), ha="center", fontsize=7,
                    va="bottom" if d >= 0 else "top", xytext=(0, 2 if d >= 0 else -2), textcoords="offset points")
    ax.axhspan(-2.0, 2.0, color="0.9", zorder=0, label="±2 % goal")
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(x, [lab for _, lab in keys], fontsize=8)
    ax.set_ylabel("cuau-emt vs EMT (%)")
    ax.set_ylim(min(diff + [-2.0]) - 1.5, max(diff + [2.0]) + 1.5)
    ax.set_title("Shipped potential cuau-emt: observables vs its reference (EMT)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "validation.png")


# -- optional: accuracy vs peers (written by another benchmark) --------------------------------
ACCURACY_NAMES = {"mlip": "mlip", "nequip": "NequIP", "mace": "MACE"}
ACCURACY_METRICS = (("energy", "meV/atom", "energy_mae_meV_per_atom", "energy_rmse_meV_per_atom"),
                    ("forces", "meV/Å", "forces_mae_meV_per_A", "forces_rmse_meV_per_A"),
                    ("stress", "meV/Å³", "stress_mae_meV_per_A3", "stress_rmse_meV_per_A3"))


def figure_accuracy_vs_peers(out_dir: str) -> str:
    """Test MAE/RMSE per code from run_accuracy.py's JSON ({"results": {code: {"errors", "meta"}}})."""
    import matplotlib.pyplot as plt
    import numpy as np

    data = _load_json("benchmarks", "accuracy_vs_peers", "results", "accuracy_cu_emt.json")
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results:
        raise MissingResult("benchmarks/accuracy_vs_peers/results/accuracy_cu_emt.json (no 'results' by code)")
    codes = list(results)
    labels = [f"{ACCURACY_NAMES.get(c, c)}\n{results[c].get('meta', {}).get('n_params', 0) / 1e3:.0f}k params"
              for c in codes]
    fig, axes = plt.subplots(1, len(ACCURACY_METRICS), figsize=(11, 3.4))
    x = np.arange(len(codes))
    for ax, (name, unit, mae, rmse) in zip(axes, ACCURACY_METRICS):
        ax.bar(x - 0.2, [results[c]["errors"].get(mae, np.nan) for c in codes], 0.4, label="MAE", color="#3182bd")
        ax.bar(x + 0.2, [results[c]["errors"].get(rmse, np.nan) for c in codes], 0.4, label="RMSE", color="#9ecae1")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylabel(f"{name} error ({unit})")
    axes[0].legend(fontsize=8)
    split = data.get("split", {})
    n_test = len(split.get("indices", {}).get("test", [])) or "?"
    fig.suptitle(f"Test errors on {data.get('dataset', 'Cu EMT data')} ({n_test} test frames), same split and "
                 "wall-clock training budget for every code (lower is better)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_dir, "accuracy_vs_peers.png")


# -- molecular potential: harmonic frequencies vs B3LYP ---------------------------------------
def figure_frequencies(out_dir: str) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    data = _load_json("potentials", "ethanol-b3lyp-xtb", "validation.json")
    w = data["wavenumbers_cm-1"]
    dft = np.array(w["dft"])
    x = np.arange(1, dft.size + 1)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for values, label, color, dx in ((w["xtb"], "GFN2-xTB alone", "#fdae6b", -0.2),
                                     (w["model"], "ethanol-b3lyp-xtb (Δ on xTB)", "#3182bd", 0.2)):
        ax.bar(x + dx, 100.0 * (np.array(values) / dft - 1.0), 0.4, label=label, color=color)
    ax.axhspan(-2.0, 2.0, color="0.9", zorder=0, label="±2 % goal")
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(x, [f"{v:.0f}" for v in dft], rotation=90, fontsize=7)
    ax.set_xlabel("B3LYP/def2-SVP harmonic wavenumber (cm⁻¹), modes in ascending order")
    ax.set_ylabel("error vs B3LYP (%)")
    ax.set_ylim(-8, 5.5)
    ax.annotate("xTB mode 1: −21.9 %", (1, -8), xytext=(1.6, -7.3), fontsize=7)
    m, xt = data["model_vs_dft"], data["xtb_vs_dft"]
    ax.set_title(f"Ethanol frequencies: model MAE {m['mae_cm-1']:.1f} cm⁻¹ ({m['n_modes_within_2pct']}/{m['n_modes']} "
                 f"within 2 %), GFN2-xTB {xt['mae_cm-1']:.1f} cm⁻¹ ({xt['n_modes_within_2pct']}/{xt['n_modes']})", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    fig.tight_layout()
    return _save(fig, out_dir, "frequencies.png")


FIGURES: Dict[str, Callable[[str], str]] = {
    "speed": figure_speed, "learning_curves": figure_learning_curves, "coulomb": figure_coulomb,
    "drift": figure_drift, "validation": figure_validation, "frequencies": figure_frequencies,
    "accuracy_vs_peers": figure_accuracy_vs_peers,
}


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "figures"), help="output folder")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(FIGURES)}")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only; set here, never on import
    chosen = [n for n in args.only.split(",") if n] or list(FIGURES)
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
    for name in chosen:
        try:
            path = FIGURES[name](args.out)
        except MissingResult as missing:
            print(f"skipped {name}.png: result file missing: {missing}")
            continue
        print(f"wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path) / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
