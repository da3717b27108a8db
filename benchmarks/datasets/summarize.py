#!/usr/bin/env python3
"""Check and summarize the shipped datasets (cheap: reads the files, computes nothing).

    python benchmarks/datasets/summarize.py [files...]

For every file: frame count, frames per config_type, atoms per frame, label keys
(all required keys present in every frame), energy and force ranges, file size.
Exit status 1 if a required key is missing somewhere.
"""
from __future__ import annotations

import collections
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED = {
    "ethanol_dft.extxyz": (["config_type", "dft_energy", "xtb_energy"], ["dft_forces", "xtb_forces"]),
    "ethanol_xtb_md.extxyz": (["config_type", "md_xtb_energy", "md_time_fs"], []),
    "cu_emt.extxyz": (["config_type", "emt_energy", "emt_stress"], ["emt_forces"]),
}


def summarize(path: str) -> bool:
    import ase.io

    name = os.path.basename(path)
    info_keys, array_keys = REQUIRED.get(name, ([], []))
    frames = ase.io.read(path, ":", format="extxyz") if os.path.getsize(path) else []
    print(f"== {name}: {len(frames)} frames, {os.path.getsize(path) / 1e6:.2f} MB")
    ok = True
    for i, a in enumerate(frames):
        missing = [k for k in info_keys if k not in a.info] + [k for k in array_keys if k not in a.arrays]
        if missing:
            print(f"   frame {i}: missing {missing}")
            ok = False
        if "emt_stress" in a.info and np.shape(a.info["emt_stress"]) != (6,):
            print(f"   frame {i}: emt_stress has shape {np.shape(a.info['emt_stress'])}, expected (6,)")
            ok = False
    if not frames:
        return ok
    counts = collections.Counter(a.info.get("config_type", "?") for a in frames)
    for ct, n in sorted(counts.items()):
        sizes = sorted({len(a) for a in frames if a.info.get("config_type") == ct})
        elems = sorted({s for a in frames if a.info.get("config_type") == ct for s in a.get_chemical_symbols()})
        print(f"   {ct:14s} {n:5d} frames, atoms {sizes}, elements {elems}")
    for k in info_keys:
        if k.endswith("energy"):
            e = np.array([a.info[k] / len(a) for a in frames])
            print(f"   {k}/atom: {e.min():.4f} .. {e.max():.4f} eV")
    for k in array_keys:
        f = np.concatenate([a.arrays[k] for a in frames])
        print(f"   {k}: |F| max {np.abs(f).max():.3f} eV/A, RMS component {np.sqrt((f ** 2).mean()):.3f} eV/A")
    if "emt_stress" in info_keys:
        s = np.array([a.info["emt_stress"] for a in frames])
        print(f"   emt_stress (Voigt xx yy zz yz xz xy): range {s.min():.4f} .. {s.max():.4f} eV/A^3")
    print(f"   info keys: {sorted(frames[-1].info)}")
    print(f"   array keys: {sorted(frames[-1].arrays)}")
    return ok


def main(argv) -> int:
    paths = argv or [os.path.join(HERE, n) for n in REQUIRED if os.path.exists(os.path.join(HERE, n))]
    ok = all([summarize(p) for p in paths])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
