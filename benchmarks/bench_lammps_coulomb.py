"""Benchmark: a Coulomb (learned-charge) model in LAMMPS, all atoms on one rank (``coulomb box``)
vs the Ewald sum split across ranks (``coulomb split``, 1 and 2 ranks).

Model: Na/Cl, random weights, 2 layers, 16 channels, l_max 1, cutoff 4 Å, learned charges
(~ ±0.8 e), Ewald with the ModelConfig defaults (tolerance 1e-6, real-space cutoff 10 Å), float32
export. Structure: rattled rock salt (a = 5.64 Å) of ``--ions`` ions. Each case: ``--steps`` NVE
steps after ``run 0`` (setup excluded), ``--repeat`` repeats (cases alternate), median [min, max]
of the wall time per step from LAMMPS's "Loop time" (one thread per rank). The one-rank ``box``
path searches real-space pairs by brute force (O(N² · images)); the split path uses a cell list.
Both evaluate the reciprocal sum directly: with a fixed real-space cutoff the number of
k-vectors grows with the volume, so that part costs O(N² / ranks).

Usage: python benchmarks/bench_lammps_coulomb.py [--ions 512 1728 4096] [--steps 5] [--repeat 3]
Writes benchmarks/results/lammps_coulomb.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lammps"))

INPUT = """
plugin load {plugin}
units metal
atom_style atomic
atom_modify map array
boundary p p p
read_data nacl.data
pair_style mlip coulomb {mode}
pair_coeff * * {model} Na Cl
timestep 0.0005
velocity all create 300 1 loop geom
fix nve all nve
thermo {steps}
run 0
run {steps}
"""


def model_file(work: Path) -> Path:
    import torch

    import mlip
    from mlip.export import export_lammps

    cfg = mlip.ModelConfig(elements=("Na", "Cl"), cutoff=4.0, l_max=1, channels=16, n_layers=2,
                           avg_num_neighbors=10.0, long_range="coulomb")
    pot = mlip.build_potential(cfg, seed=0, dtype=torch.float64)
    with torch.no_grad():
        pot.model.terms[0].charge_head.shift.copy_(torch.tensor([0.8, -0.8], dtype=torch.float64))
    return export_lammps(pot, work / "coulomb32.pt", dtype=torch.float32)


def main(argv=None) -> int:
    import ase.build

    import lammps_helpers as lh

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ions", type=int, nargs="+", default=[512, 1728, 4096])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "lammps_coulomb.json"))
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_coulomb_"))
    model = model_file(work)
    cases = [("box", 1), ("split", 1), ("split", 2)]
    result = {"benchmark": "bench_lammps_coulomb", "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average_start": list(os.getloadavg()), "steps": args.steps, "sizes": []}
    for n_ions in args.ions:
        rep = round((n_ions / 8) ** (1 / 3))
        atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(rep)
        atoms.rattle(0.05, seed=1)
        lh.write_data(work / "nacl.data", atoms, ["Na", "Cl"])
        times = {f"{m}, np {n}": [] for m, n in cases}
        for _ in range(args.repeat):
            for mode, n_ranks in cases:
                done = lh.run_lmp(INPUT.format(plugin=lh.ensure_plugin(), mode=mode, model=model, steps=args.steps),
                                  work, n_ranks=n_ranks, timeout=3600)
                if done.returncode != 0:
                    raise RuntimeError(done.stdout[-3000:])
                loops = re.findall(r"Loop time of ([0-9.eE+-]+) on", done.stdout)
                times[f"{mode}, np {n_ranks}"].append(float(loops[-1]) / args.steps)
        row = {"ions": len(atoms), "seconds_per_step": times}
        result["sizes"].append(row)
        print(f"{len(atoms)} ions: " + ", ".join(
            f"{k} {statistics.median(v):.3f} s/step [{min(v):.3f}, {max(v):.3f}]" for k, v in times.items()), flush=True)
        box, one, two = (statistics.median(times[k]) for k in ("box, np 1", "split, np 1", "split, np 2"))
        print(f"  split np1 / box np1: {box / one:.2f}x faster; split np2 vs np1: {one / two:.2f}x", flush=True)
    result["load_average_end"] = list(os.getloadavg())
    from mlip.atomic_io import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
