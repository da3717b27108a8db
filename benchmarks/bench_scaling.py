"""Benchmark: cost and memory per atom of energy + forces from 500 to 10⁶ atoms, whole graph vs
blocks of receivers (``Potential.set_max_edges_per_chunk``, :mod:`mlip.chunked_evaluation`).

Each (model, size, mode, repeat) runs in a fresh subprocess on one thread, with the allocator
set as the ``mlip`` command line sets it (:func:`mlip.allocator.keep_freed_memory`): rattled
fcc Cu (with 10 % Au for ``cuau-emt``), the neighbour list rebuilt every call (mlip's native
list), one warm-up call, then ``--steps`` calls of ``potential(system, edges)`` (energy and
forces). Reported per call: atom·steps per wall second and per CPU second (user + sys), the sys
share of CPU time, minor page faults, and the peak RSS of the process (whole run, including the
structure and the neighbour list) per atom. Models: the shipped ``cuau-emt`` (float32, 2 layers,
l_max 1, 32 channels, 5 Å) and the NequIP shape of benchmarks/peers (float32, 4 layers, l_max 2,
32 channels, 5 Å, random weights). Results: ``benchmarks/results/scaling.json``.

Usage: python benchmarks/bench_scaling.py [--models cuau-emt nequip-shape] [--sizes 500 4000 32000]
       [--modes whole chunked] [--max-edges 1048576] [--steps 3] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKER = r"""
import json, resource, sys, time
import ase.build, numpy as np, torch
import mlip
from mlip.allocator import keep_freed_memory
from mlip.ase_bridge import system_from_atoms
from mlip.neighbor_list import neighbor_list
model, n_atoms, mode, steps, max_edges = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
keep_freed_memory()
torch.set_num_threads(1)
if model == "cuau-emt":
    pot = mlip.load_potential("cuau-emt")
else:  # the NequIP shape of benchmarks/peers/worker_mlip.py
    config = mlip.ModelConfig(elements=("Cu", "Au"), cutoff=5.0, l_max=2, channels=32, n_layers=4)
    pot = mlip.build_potential(config, dtype=torch.float32, seed=0)
pot.set_max_edges_per_chunk(max_edges if mode == "chunked" else None)
rep = max(1, round((n_atoms / 4) ** (1 / 3)))
atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
atoms.rattle(0.05, seed=0)
atoms.numbers[::10] = 79
system = system_from_atoms(atoms, dtype=pot.dtype)
def call(system):
    edges = neighbor_list(system, pot.cutoff)
    out = pot(system, edges)
    return out, edges.index.shape[1]
call(system)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
for k in range(steps):
    system = system._replace(positions=system.positions + 1e-4)
    out, n_edges = call(system)
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
assert bool(torch.isfinite(out.forces).all())
print(json.dumps({"n_atoms": len(atoms), "n_edges": int(n_edges), "wall_s": wall, "user_s": r1.ru_utime - r0.ru_utime,
                  "sys_s": r1.ru_stime - r0.ru_stime, "minor_faults": r1.ru_minflt - r0.ru_minflt,
                  "max_rss_MB": r1.ru_maxrss / 1024, "backend": pot.backend}))
"""


def run_one(model: str, n_atoms: int, mode: str, steps: int, max_edges: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", WORKER, model, str(n_atoms), mode, str(steps), str(max_edges)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{model} {n_atoms} {mode}: {proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row.update(model=model, mode=mode, steps=steps, max_edges=max_edges if mode == "chunked" else None)
    return row


def table(rows) -> None:
    print("| model | mode | atoms | atom·steps/s (wall) | per CPU-s | sys / CPU | faults / call | peak RSS MB | kB / atom |")
    print("|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["model"], r["mode"], r["n_atoms"]) for r in rows}, key=lambda k: (k[0], k[1], k[2]))
    for model, mode, n in keys:
        rs = [r for r in rows if (r["model"], r["mode"], r["n_atoms"]) == (model, mode, n)]
        wall = np.array([r["n_atoms"] * r["steps"] / r["wall_s"] for r in rs])
        cpu = np.array([r["n_atoms"] * r["steps"] / (r["user_s"] + r["sys_s"]) for r in rs])
        sys_share = np.median([r["sys_s"] / (r["user_s"] + r["sys_s"]) for r in rs])
        faults = np.median([r["minor_faults"] / r["steps"] for r in rs])
        rss = np.median([r["max_rss_MB"] for r in rs])
        print(f"| {model} | {mode} | {n} | {np.median(wall):.0f} [{wall.min():.0f}, {wall.max():.0f}] | "
              f"{np.median(cpu):.0f} [{cpu.min():.0f}, {cpu.max():.0f}] | {100 * sys_share:.1f} % | {faults:.0f} | "
              f"{rss:.0f} | {1024 * rss / n:.1f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["cuau-emt", "nequip-shape"])
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 4000, 32000])
    p.add_argument("--modes", nargs="+", default=["whole", "chunked"])
    p.add_argument("--max-edges", type=int, default=1 << 20, help="block size of chunked mode (default: the Potential default)")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "scaling.json"))
    p.add_argument("--append", action="store_true", help="keep the rows already in OUTPUT (runs of other sizes)")
    args = p.parse_args(argv)
    rows = []
    if args.append and os.path.exists(args.output):
        with open(args.output) as fh:
            rows = json.load(fh)["rows"]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for model in args.models:
        for n in args.sizes:
            for k in range(args.repeat):
                for mode in args.modes:  # interleaved: a busy machine skews both alike
                    rows.append(run_one(model, n, mode, args.steps, args.max_edges))
                    r = rows[-1]
                    print(f"  {model} {r['n_atoms']} {mode} repeat {k}: "
                          f"{r['n_atoms'] * r['steps'] / (r['user_s'] + r['sys_s']):.0f} atom·steps per CPU-s, "
                          f"sys {100 * r['sys_s'] / (r['user_s'] + r['sys_s']):.1f} %, RSS {r['max_rss_MB']:.0f} MB",
                          flush=True)
            out = {"benchmark": "bench_scaling", "started_utc": started, "load_average": list(os.getloadavg()),
                   "rows": rows}
            tmp = args.output + ".tmp"  # after each size: a cut-off run keeps what it measured
            with open(tmp, "w") as fh:
                json.dump(out, fh, indent=1)
            os.replace(tmp, args.output)
    table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
