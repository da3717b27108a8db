#!/usr/bin/env python3
"""Errors of any potential on a labelled extxyz file, per kind of frame: energy MAE (meV/atom),
force MAE and RMSE (meV/Angstrom, over Cartesian components, as ``mlip eval``) and stress MAE
(meV/Angstrom^3), one row per value of ``info[--kind-key]`` and one for all frames.

The metrics are mlip's own (:func:`mlip.train.metrics.evaluate`, the numbers ``mlip eval``
prints), computed on each group of frames.

Usage (from the repository root):
    python benchmarks/active_learning/eval_by_kind.py potentials/cuau-emt/potential.pt \
        benchmarks/active_learning/data/ood_test.extxyz [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import torch  # noqa: E402

from mlip.atomic_io import atomic_open  # noqa: E402
from mlip.data import DataKeys, build_graphs, check_frame, frame_from_atoms  # noqa: E402
from mlip.data.frames import read_images  # noqa: E402
from mlip.errors import DataError  # noqa: E402
from mlip.potential import load_potential  # noqa: E402
from mlip.train.metrics import evaluate  # noqa: E402

COLUMNS = (("energy_mae_meV/atom", "E MAE meV/atom"), ("forces_mae_meV/A", "F MAE meV/Å"),
           ("forces_rmse_meV/A", "F RMSE meV/Å"), ("stress_mae_meV/A3", "σ MAE meV/Å³"))


def errors_by_kind(potential, path: str, keys: DataKeys, kind_key: str = "kind",
                   batch_size: int = 8) -> Dict[str, Dict[str, float]]:
    """``{kind: metrics}`` in the order the kinds first appear, then ``"all"``; each metrics dict
    holds mlip's MAE/RMSE keys (meV/atom, meV/Å, meV/Å³) plus ``n_frames`` and ``n_atoms``."""
    images = read_images(path)
    groups: Dict[str, List] = {}
    for k, atoms in enumerate(images):
        if kind_key not in atoms.info:
            raise DataError(f"{path}:{k}: no info['{kind_key}'] (pass --kind-key with the key naming the kind)")
        frame = frame_from_atoms(atoms, keys, f"{path}:{k}")
        check_frame(frame, potential.atomic_numbers)
        groups.setdefault(str(atoms.info[kind_key]), []).append(frame)
    groups["all"] = [f for group in list(groups.values()) for f in group]
    out = {}
    for kind, frames in groups.items():
        metrics = evaluate(potential, build_graphs(frames, potential.cutoff), batch_size)
        metrics.update(n_frames=len(frames), n_atoms=sum(f.n_atoms for f in frames))
        out[kind] = metrics
    return out


def table(results: Dict[str, Dict[str, float]]) -> str:
    """A Markdown table of :func:`errors_by_kind`'s results."""
    head = "| kind | frames | atoms | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS))]
    for kind, m in results.items():
        cells = [f"{m[key]:.3g}" if key in m else "–" for key, _ in COLUMNS]
        lines.append(f"| {kind} | {m['n_frames']} | {m['n_atoms']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("potential", help="potential file or shipped name")
    p.add_argument("data", help="labelled extxyz file")
    p.add_argument("--kind-key", default="kind", help="info key naming each frame's kind (default kind)")
    p.add_argument("--energy-key", default="REF_energy")
    p.add_argument("--forces-key", default="REF_forces")
    p.add_argument("--stress-key", default="REF_stress")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--float64", action="store_true", help="evaluate in float64")
    p.add_argument("--backend", default="auto", choices=("auto", "native", "reference"))
    p.add_argument("--json", default=None, help="also write the results here (JSON)")
    args = p.parse_args(argv)
    potential = load_potential(args.potential, dtype=torch.float64 if args.float64 else None, backend=args.backend)
    keys = DataKeys(energy=args.energy_key, forces=args.forces_key, stress=args.stress_key)
    results = errors_by_kind(potential, args.data, keys, args.kind_key, args.batch_size)
    print(f"{args.data}, potential {args.potential}")
    print(table(results))
    if args.json:
        with atomic_open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"potential": args.potential, "data": args.data, "by_kind": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
