"""Figure of the NPT validation (docs/figures/npt_validation.png) from the results of
``lattice_constant_vs_emt.py`` (results/runs_emt.json, results/runs_cuau-emt.json).

Left: the lattice constant along the run (seed 0) for EMT and cuau-emt at each temperature.
Right: the relative difference of the two force fields' mean lattice constants per temperature,
with the conservative error (per-run block errors, as if the runs were independent) and the
error of the per-seed differences (the same seed drives both runs).

Usage: python benchmarks/npt/plot_npt_validation.py [--output docs/figures/npt_validation.png]
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

HERE = os.path.dirname(os.path.abspath(__file__))
STYLE = {"emt": ("EMT (ASE)", "tab:blue", "-"), "cuau-emt": ("cuau-emt (mlip)", "tab:orange", "--")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=os.path.join(HERE, "..", "..", "docs", "figures", "npt_validation.png"))
    args = parser.parse_args()
    runs, settings = [], {}
    for name in STYLE:
        with open(os.path.join(HERE, "results", f"runs_{name}.json"), encoding="utf-8") as handle:
            data = json.load(handle)
        runs += data["runs"]
        settings = data["settings"]
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    h = settings["timestep_fs"]
    for r in runs:
        if r["seed"] != 0:
            continue
        label, color, line = STYLE[r["forcefield"]]
        series = np.array(r["a_series_every_10"])
        times_ps = (settings["equilibrate"] + 10 * np.arange(len(series))) * h / 1000.0
        left.plot(times_ps, series, line, color=color, lw=0.8, label=f"{label}, {r['temperature_K']:g} K")
    left.set_xlabel("time (ps)")
    left.set_ylabel("lattice constant (Å)")
    left.set_title(f"NPT, 0 GPa, {settings['atoms']} Cu atoms, seed 0")
    left.legend(fontsize=7)
    temps = sorted({r["temperature_K"] for r in runs})
    a = {(r["forcefield"], r["temperature_K"], r["seed"]): r for r in runs}
    for k, T in enumerate(temps):
        seeds = sorted(s for (n, t, s) in a if n == "emt" and t == T and ("cuau-emt", T, s) in a)
        diffs = [100 * (a[("cuau-emt", T, s)]["a_A"] / a[("emt", T, s)]["a_A"] - 1) for s in seeds]
        blocks = [100 * np.hypot(a[("cuau-emt", T, s)]["a_error_A"], a[("emt", T, s)]["a_error_A"])
                  / a[("emt", T, s)]["a_A"] for s in seeds]
        conservative = np.sqrt(np.sum(np.square(blocks))) / len(seeds)  # as if the runs were independent
        paired = np.std(diffs, ddof=1) / np.sqrt(len(diffs))
        right.errorbar([T - 10], [np.mean(diffs)], yerr=[conservative], fmt="s", color="tab:gray", capsize=4,
                       label="unpaired (block errors)" if k == 0 else None)
        right.errorbar([T + 10], [np.mean(diffs)], yerr=[paired], fmt="o", color="tab:orange", capsize=4,
                       label="paired by seed" if k == 0 else None)
    for sign in (-1, 1):
        right.axhline(sign * 0.1, color="tab:red", ls=":", lw=1, label="goal ±0.1 %" if sign > 0 else None)
    right.axhline(0.0, color="black", lw=0.5)
    right.set_xlabel("temperature (K)")
    right.set_ylabel("a(cuau-emt) / a(EMT) − 1 (%)")
    right.set_title(f"{len(settings['seeds'])} seeds, {settings['steps']} steps of {h:g} fs each")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
