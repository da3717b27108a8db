"""Benchmark: LAMMPS ``pair_style mlip`` NVE throughput on one rank vs ``mlip md`` (same atoms).

Exports the shipped ``cuau-emt`` (``--backend native``: LAMMPS loads the op library), writes fcc
Cu with ``--atoms`` atoms, runs ``--steps`` NVE steps at 2 fs in LAMMPS (1 MPI rank, 1 thread;
atom·steps/s from LAMMPS's "Loop time") and the same run through ``mlip md`` (the rate it
reports for its stepping loop). ``--repeat`` alternating repeats; median [min, max].
Needs the plugin (``make lammps-plugin``) and the op library (``make ops``).

Usage: python benchmarks/bench_lammps_md.py [--atoms 4000] [--steps 50] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lammps"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=4000)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    import ase.build
    import ase.io

    import lammps_helpers as lh
    import mlip.ops
    from mlip.export import export_lammps

    rep = max(1, round((args.atoms / 4) ** (1 / 3)))
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
    rates = {"lammps": [], "mlip md": []}
    with tempfile.TemporaryDirectory() as work:
        model = export_lammps("cuau-emt", os.path.join(work, "cuau.pt"), backend="native")
        data = lh.write_data(os.path.join(work, "cu.data"), atoms, ["Cu", "Au"])
        xyz = os.path.join(work, "cu.extxyz")
        ase.io.write(xyz, atoms)
        text = f"""plugin load {lh.ensure_plugin()}
units metal
atom_style atomic
boundary p p p
read_data {data}
pair_style mlip ops {mlip.ops.library_path()}
pair_coeff * * {model} Cu Au
velocity all create 300 1 dist gaussian
timestep 0.002
fix nve all nve
thermo 50
run {args.steps}
"""
        for k in range(args.repeat):
            proc = lh.run_lmp(text, work, n_ranks=1, timeout=3600)
            m = re.search(r"Loop time of ([0-9.eE+-]+) on 1 procs for (\d+) steps with (\d+) atoms", proc.stdout)
            if m is None:
                raise RuntimeError(proc.stdout[-3000:])
            rates["lammps"].append(int(m.group(3)) * int(m.group(2)) / float(m.group(1)))
            out = os.path.join(work, f"md{k}")
            cmd = [sys.executable, "-m", "mlip.cli", "md", "--potential", "cuau-emt", "--structure", xyz,
                   "--ensemble", "nve", "--temperature-K", "300", "--timestep-fs", "2", "--steps", str(args.steps),
                   "--output", out, "--backend", "native"]
            md = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            line = next(l for l in md.stdout.splitlines() if "atom·steps/s" in l)
            rates["mlip md"].append(float(line.split(",")[1].split("atom")[0]))
            print(f"  repeat {k}: lammps {rates['lammps'][-1]:.0f}, mlip md {rates['mlip md'][-1]:.0f} atom·steps/s", flush=True)
    print(f"\n{len(atoms)} atoms, {args.steps} NVE steps, 1 rank / 1 thread")
    for name, v in rates.items():
        print(f"{name:<10}{np.median(v):>10.0f}  [{min(v):.0f}, {max(v):.0f}] atom·steps/s")
    ratio = [a / b for a, b in zip(rates["mlip md"], rates["lammps"])]
    print(f"mlip md / lammps: {np.median(ratio):.2f}x [{min(ratio):.2f}, {max(ratio):.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
