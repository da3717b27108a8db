"""Benchmark: LAMMPS ``pair_style mlip`` NVE throughput, feature exchange vs whole graph, 1 and 2
MPI ranks, against ``mlip md`` on the same atoms.

Exports the shipped ``cuau-emt`` (``--backend native``: LAMMPS loads the op library), writes fcc
Cu with about ``--atoms`` atoms (several sizes allowed), and runs ``--steps`` NVE steps at 2 fs:

* ``exchange``: ``pair_style mlip`` (default): ghost atoms one cutoff + skin deep, node features
  exchanged between ranks after each message-passing layer;
* ``whole graph``: ``pair_style mlip exchange no``: ghosts over the receptive field;
* each on 1 and 2 MPI ranks (1 thread per rank; atom·steps/s from LAMMPS's "Loop time"), with
  LAMMPS's average ghost atoms per rank (``Nghost``);
* ``mlip md`` (1 thread): the rate it reports for its stepping loop.

``--repeat`` alternating repeats; median [min, max]. ``--trajectory-steps N`` also runs N steps
with exchange on 1 and on 2 ranks (a float64 export of the model) and reports the largest relative difference of the final
positions and forces. Results go to ``benchmarks/results/lammps_md.json``. Run it on an idle
machine: the 2-rank runs need both cores. Needs ``make lammps-plugin`` and ``make ops``.

Usage: python benchmarks/bench_lammps_md.py [--atoms 4000 32000] [--steps 30] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lammps"))

INPUT = """plugin load {plugin}
units metal
atom_style atomic
atom_modify map array
boundary p p p
read_data {data}
pair_style mlip ops {ops} exchange {exchange} {extra}
pair_coeff * * {model} Cu Au
velocity all create 300 1 dist gaussian loop geom
timestep 0.002
fix nve all nve
thermo {steps}
{dump}
run {steps}
"""


def lammps_run(lh, work, text, n_ranks):
    proc = lh.run_lmp(text, work, n_ranks=n_ranks, timeout=7200)
    m = re.search(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", proc.stdout)
    if m is None:
        raise RuntimeError(proc.stdout[-3000:])
    ghosts = float(re.search(r"Nghost:\s+(\S+)", proc.stdout).group(1))
    return int(m.group(4)) * int(m.group(3)) / float(m.group(1)), ghosts


def final_frame(path):
    lines = open(path).read().splitlines()
    start = max(i for i, l in enumerate(lines) if l.startswith("ITEM: ATOMS")) + 1
    return np.array([[float(v) for v in l.split()] for l in lines[start:]])


def bench_size(lh, n_target, args, ops_path):
    import ase.build
    import ase.io

    from mlip.export import export_lammps

    rep = max(1, round((n_target / 4) ** (1 / 3)))
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
    cases = [("exchange", "yes", 1), ("whole graph", "no", 1), ("exchange", "yes", 2), ("whole graph", "no", 2)]
    rates = {f"{name}, np {n}": [] for name, _, n in cases}
    rates["mlip md"] = []
    ghosts = {}
    out = {"atoms": len(atoms), "steps": args.steps}
    with tempfile.TemporaryDirectory() as work:
        model = export_lammps("cuau-emt", os.path.join(work, "cuau.pt"), backend="native")
        data = lh.write_data(os.path.join(work, "cu.data"), atoms, ["Cu", "Au"])
        xyz = os.path.join(work, "cu.extxyz")
        ase.io.write(xyz, atoms)
        for k in range(args.repeat):
            for name, exchange, n in cases:
                text = INPUT.format(plugin=lh.ensure_plugin(), data=data, ops=ops_path, exchange=exchange, model=model,
                                    steps=args.steps, dump="", extra="")
                rate, g = lammps_run(lh, work, text, n)
                rates[f"{name}, np {n}"].append(rate)
                ghosts[f"{name}, np {n}"] = g
            md_out = os.path.join(work, f"md{k}")
            cmd = [sys.executable, "-m", "mlip.cli", "md", "--potential", "cuau-emt", "--structure", xyz,
                   "--ensemble", "nve", "--temperature-K", "300", "--timestep-fs", "2", "--steps", str(args.steps),
                   "--output", md_out, "--backend", "native"]
            md = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            line = next(l for l in md.stdout.splitlines() if "atom·steps/s" in l)
            rates["mlip md"].append(float(line.split(",")[1].split("atom")[0]))
            print(f"  {len(atoms)} atoms, repeat {k}: " + ", ".join(f"{key} {v[-1]:.0f}" for key, v in rates.items()),
                  flush=True)
        if args.trajectory_steps > 0:
            # float64 copy of the model: equality across decompositions to 1e-10 is a float64 claim
            import torch

            model64 = export_lammps("cuau-emt", os.path.join(work, "cuau64.pt"), backend="native", dtype=torch.float64)
            frames = {}
            for n in (1, 2):
                dump = (f"dump d all custom {args.trajectory_steps} traj.np{n}.dump id x y z fx fy fz\n"
                        "dump_modify d sort id format float %.17g")
                text = INPUT.format(plugin=lh.ensure_plugin(), data=data, ops=ops_path, exchange="yes", model=model64,
                                    steps=args.trajectory_steps, dump=dump, extra=f"max_edges {args.trajectory_max_edges}")
                lammps_run(lh, work, text, n)
                frames[n] = final_frame(os.path.join(work, f"traj.np{n}.dump"))
            a, b = frames[1], frames[2]
            out["trajectory"] = {
                "steps": args.trajectory_steps,
                "max_edges": args.trajectory_max_edges,
                "max_abs_position_difference_A": float(np.abs(a[:, 1:4] - b[:, 1:4]).max()),
                "max_relative_force_difference": float(np.abs(a[:, 4:7] - b[:, 4:7]).max() / np.abs(a[:, 4:7]).max()),
            }
            print(f"  trajectory np2 vs np1 after {args.trajectory_steps} steps: {out['trajectory']}", flush=True)
    out["rates_atom_steps_per_s"] = rates
    out["ghost_atoms_per_rank"] = ghosts
    return out


def summarise(result):
    r = {k: np.array(v) for k, v in result["rates_atom_steps_per_s"].items()}
    if not all(len(v) for v in r.values()):
        return
    print(f"\n{result['atoms']} atoms, {result['steps']} NVE steps, 1 thread per rank")
    print(f"| case | atom·steps/s | ghost atoms per rank |\n|---|---|---|")
    for key, v in r.items():
        g = result["ghost_atoms_per_rank"].get(key)
        print(f"| {key} | {np.median(v):.0f} [{v.min():.0f}, {v.max():.0f}] | {'' if g is None else f'{g:.0f}'} |")

    def ratio(a, b):
        x = r[a] / r[b]
        return f"{np.median(x):.2f}x [{x.min():.2f}, {x.max():.2f}]"

    print(f"mlip md / LAMMPS exchange (np 1): {ratio('mlip md', 'exchange, np 1')}")
    print(f"mlip md / LAMMPS whole graph (np 1): {ratio('mlip md', 'whole graph, np 1')}")
    print(f"exchange / whole graph (np 1): {ratio('exchange, np 1', 'whole graph, np 1')}")
    print(f"np 2 / np 1, exchange: {ratio('exchange, np 2', 'exchange, np 1')}")
    print(f"np 2 / np 1, whole graph: {ratio('whole graph, np 2', 'whole graph, np 1')}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, nargs="+", default=[4000, 32000])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--trajectory-steps", type=int, default=0)
    p.add_argument("--trajectory-max-edges", type=int, default=1 << 20,
                   help="pair_style mlip max_edges of the float64 trajectory runs (memory per rank)")
    p.add_argument("--output", default=os.path.join(HERE, "results", "lammps_md.json"))
    args = p.parse_args(argv)
    import lammps_helpers as lh
    import mlip.ops

    results = {"benchmark": "bench_lammps_md", "load_average_start": list(os.getloadavg()),
               "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sizes": []}
    for n in args.atoms:
        results["sizes"].append(bench_size(lh, n, args, mlip.ops.library_path()))
        summarise(results["sizes"][-1])
        results["load_average_end"] = list(os.getloadavg())
        tmp = args.output + ".tmp"  # after each size: a cut-off run keeps what it measured
        with open(tmp, "w") as fh:
            json.dump(results, fh, indent=1)
        os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
