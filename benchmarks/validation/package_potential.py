"""Package a trained potential into potentials/NAME/: weights, checksum, machine-readable
metadata, and reference structures with pinned predictions for the regression test.

    python benchmarks/validation/package_potential.py runs/x/best.pt potentials/NAME \
        --data benchmarks/datasets/cu_emt.extxyz --keys energy=emt_energy,forces=emt_forces \
        --frames 3,57,300,450 [--test-metrics runs/x/test_metrics.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys

import ase.io
import numpy as np
import torch

import mlip

from atomic_json import write_json


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("potential")
    p.add_argument("folder")
    p.add_argument("--data", required=True)
    p.add_argument("--keys", default="energy=energy,forces=forces")
    p.add_argument("--frames", required=True, help="comma-separated frame indices of --data")
    p.add_argument("--test-metrics", default=None)
    args = p.parse_args(argv)
    keys = dict(kv.split("=") for kv in args.keys.split(","))
    os.makedirs(args.folder, exist_ok=True)
    dest = os.path.join(args.folder, "potential.pt")
    shutil.copyfile(args.potential, dest + ".tmp")
    os.replace(dest + ".tmp", dest)
    sum_path = os.path.join(args.folder, "potential.pt.sha256")
    with open(sum_path + ".tmp", "w") as f:
        f.write(f"{sha256(dest)}  potential.pt\n")
    os.replace(sum_path + ".tmp", sum_path)
    pot = mlip.load_potential(dest)
    calc = mlip.MLIPCalculator(pot)
    frames = ase.io.read(args.data, ":")
    refs = []
    for k in map(int, args.frames.split(",")):
        a = frames[k].copy()
        a.info = {"source": f"{os.path.basename(args.data)}:{k}", "config_type": frames[k].info.get("config_type", ""),
                  "reference_energy": float(frames[k].info[keys["energy"]])}
        a.arrays["reference_forces"] = np.asarray(frames[k].arrays[keys["forces"]])
        a.calc = calc
        a.info["mlip_energy"] = float(a.get_potential_energy())
        a.arrays["mlip_forces"] = a.get_forces().copy()
        a.calc = None
        refs.append(a)
    out = os.path.join(args.folder, "reference_structures.extxyz")
    ase.io.write(out + ".tmp", refs, format="extxyz")
    os.replace(out + ".tmp", out)
    meta = pot.metadata()
    meta.pop("created_utc", None)
    meta["n_parameters"] = sum(p.numel() for p in pot.parameters())
    if args.test_metrics:
        meta["test_metrics"] = json.load(open(args.test_metrics))
    meta_path = os.path.join(args.folder, "metadata.json")
    write_json(meta_path, meta)
    print(f"packaged {dest} ({os.path.getsize(dest) / 1024:.0f} KiB), {len(refs)} reference structures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
