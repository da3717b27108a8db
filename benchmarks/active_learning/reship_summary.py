#!/usr/bin/env python3
"""The goals of the re-shipped Cu-Au committee, measured for each committee built by the loop.

For every committee file given (``committee.pt`` of an ``mlip learn`` run) and, for reference,
the shipped single model: force MAE (meV/Å) on the in-distribution test split and, per kind, on
an independent out-of-distribution set; their ratio; and, for committees, how the calibrated
spread (the scale the loop stored, fitted on the validation split) predicts the error on the
OOD set: the fraction of atoms with |ΔF| < 2σ and the Spearman rank correlation between each
frame's largest σ (the loop's and ``mlip md --max-forces-std``'s uncertainty) and its RMS force
error. Prints a Markdown table (mean ± sample standard deviation over the committees) and
writes it with a JSON of every number.

Usage (repository root)::

    python benchmarks/active_learning/reship_summary.py runs/al_reship_study/uncertainty_s*/committee.pt \
        --ood benchmarks/active_learning/data/ood_independent.extxyz --id runs/cu_emt_split/test.extxyz \
        --out benchmarks/active_learning/results/reship_summary
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from eval_by_kind import errors_by_kind  # noqa: E402

from mlip.atomic_io import atomic_open  # noqa: E402
from mlip.data import DataKeys, build_graphs, read_frames  # noqa: E402
from mlip.potential import load_potential  # noqa: E402
from mlip.train.calibration import calibration_report, force_uncertainty  # noqa: E402
from mlip.train.metrics import evaluate  # noqa: E402

KEYS = DataKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")
F = "forces_mae_meV/A"


def measure(path: str, ood: str, id_test: str) -> Dict[str, float]:
    pot = load_potential(path)
    row: Dict[str, float] = {"id_" + F: evaluate(pot, build_graphs(read_frames(id_test, KEYS), pot.cutoff))[F]}
    for kind, metrics in errors_by_kind(pot, ood, KEYS).items():
        row[f"ood:{kind}_" + F] = metrics[F]
    row["ood_over_id"] = row["ood:all_" + F] / row["id_" + F]
    if pot.committee_size > 1:
        report = calibration_report(force_uncertainty(pot, build_graphs(read_frames(ood, KEYS), pot.cutoff)),
                                    pot.uncertainty_scale)
        row.update(scale=report.scale, coverage_2sigma=report.coverage_2sigma,
                   spearman_frame_max=report.spearman_frame_max, spearman_frame_mean=report.spearman_frame_mean)
    return row


def markdown(rows: Dict[str, Dict[str, float]], groups: Dict[str, List[str]]) -> str:
    keys = list(next(iter(rows.values())).keys())
    lines = ["| quantity | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for key in keys:
        cells = []
        for members in groups.values():
            values = np.array([rows[m][key] for m in members if key in rows[m]], dtype=float)
            if values.size == 0:
                cells.append("–")
            elif values.size == 1:
                cells.append(f"{values[0]:.3g}")
            else:
                cells.append(f"{values.mean():.3g} ± {values.std(ddof=1):.2g} (" + ", ".join(f"{v:.3g}" for v in values) + ")")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("committees", nargs="+", help="committee files of loop runs (one per seed)")
    p.add_argument("--reference", default="cuau-emt", help="a single potential to set beside them (shipped name or file)")
    p.add_argument("--ood", required=True, help="independent labelled OOD set (info['kind'] per frame)")
    p.add_argument("--id", dest="id_test", default="runs/cu_emt_split/test.extxyz", help="in-distribution test split")
    p.add_argument("--out", default=None, help="write OUT.md and OUT.json")
    args = p.parse_args()
    rows = {path: measure(path, args.ood, args.id_test) for path in args.committees + [args.reference]}
    text = markdown(rows, {f"loop committees ({len(args.committees)})": args.committees, args.reference: [args.reference]})
    text += f"\n\nOOD set: {args.ood}; in-distribution test: {args.id_test}; force MAE in meV/Å."
    print(text)
    if args.out:
        with atomic_open(args.out + ".md", "w") as fh:
            fh.write(text + "\n")
        with atomic_open(args.out + ".json", "w") as fh:
            json.dump({"ood": args.ood, "id_test": args.id_test, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
