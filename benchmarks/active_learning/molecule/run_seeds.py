"""Run the glycine / GFN2-xTB active-learning demonstration for several seeds and summarise them.

Each seed runs ``learn.yaml`` unchanged except ``seed`` and ``output`` (seed 0 writes the
config's own output, ``runs/al_molecule``; seed s > 0 writes ``runs/al_molecule_s<s>``), so the
start structure, validation and test sets are the same for every seed; the seed changes the
initial rattles, the committee's initialisation and the exploration MD. A finished seed is not
rerun (``mlip learn`` resumes, and a finished loop returns at once). CPU time (process time)
of each seed run from its start is written to ``cpu_time.json`` in its output folder.

``--summary`` then writes ``results/rounds_by_seed.csv`` (every seed's rounds) and
``results/rounds_summary.csv``: per round, the mean and the spread (min–max) over seeds of the
labels, the test force MAE (meV/Å) and the largest exploration σ (eV/Å).

Usage (repository root)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/active_learning/molecule/run_seeds.py --seeds 0 1 2
    python benchmarks/active_learning/molecule/run_seeds.py --seeds 0 1 2 --summary-only
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "learn.yaml")
RESULTS = os.path.join(HERE, "results")
SUMMARY = (("labels", "labels"), ("test_forces_mae_meV/A", "test_forces_mae_meV/A"),
           ("max_sigma_eV_per_A", "max_sigma_eV_per_A"))


def output_of(cfg, seed: int) -> str:
    return cfg.output if seed == 0 else f"{cfg.output}_s{seed}"


def run_seed(seed: int) -> str:
    """Run (or resume) the loop for ``seed``; returns its output folder."""
    from mlip.atomic_io import atomic_open
    from mlip.learn.config import LearnConfig
    from mlip.learn.loop import learn

    cfg = LearnConfig.from_yaml(CONFIG)
    cfg = dataclasses.replace(cfg, seed=seed, output=output_of(cfg, seed))
    resume = os.path.exists(os.path.join(cfg.output, "journal.json"))
    cpu0, wall0 = time.process_time(), time.time()
    learn(cfg, resume=resume, say=lambda line: print(f"[seed {seed}, {time.process_time() - cpu0:7.1f} s CPU] {line}",
                                                    flush=True))
    if not resume:  # a resumed run's time would count only its last part
        with atomic_open(os.path.join(cfg.output, "cpu_time.json"), "w", encoding="utf-8") as fh:
            json.dump({"cpu_s": time.process_time() - cpu0, "wall_s": time.time() - wall0}, fh)
    return cfg.output


def summarise(seeds) -> None:
    """``results/rounds_by_seed.csv`` and ``results/rounds_summary.csv`` (see the module docstring)."""
    from mlip.atomic_io import atomic_open
    from mlip.learn.config import LearnConfig

    cfg = LearnConfig.from_yaml(CONFIG)
    rows = []
    for seed in seeds:
        with open(os.path.join(output_of(cfg, seed), "rounds.csv"), encoding="utf-8") as fh:
            rows += [dict(seed=seed, **row) for row in csv.DictReader(fh)]
    os.makedirs(RESULTS, exist_ok=True)
    with atomic_open(os.path.join(RESULTS, "rounds_by_seed.csv"), "w", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = ["round", "seeds"] + [f"{name}_{stat}" for _, name in SUMMARY for stat in ("mean", "min", "max")]
    lines = [header]
    for r in sorted({int(row["round"]) for row in rows}):
        at = [row for row in rows if int(row["round"]) == r]
        line = [r, len(at)]
        for key, _ in SUMMARY:
            values = [float(row[key]) for row in at if row.get(key) not in (None, "")]
            line += [f"{sum(values) / len(values):.4g}", f"{min(values):.4g}", f"{max(values):.4g}"] if values else ["", "", ""]
        lines.append(line)
    with atomic_open(os.path.join(RESULTS, "rounds_summary.csv"), "w", encoding="utf-8") as fh:
        csv.writer(fh).writerows(lines)
    for line in lines:
        print("  ".join(f"{str(v):>10}" for v in line))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--summary-only", action="store_true", help="only summarise finished runs")
    args = p.parse_args(argv)
    if not args.summary_only:
        for seed in args.seeds:
            run_seed(seed)
    summarise(args.seeds)


if __name__ == "__main__":
    main()
