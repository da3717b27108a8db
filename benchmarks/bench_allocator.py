"""Benchmark: page faults and throughput of E+F with glibc's default allocator settings vs
:func:`mlip.allocator.keep_freed_memory` (what the ``mlip`` CLI, ``make demo`` and the LAMMPS
plugin do at start-up) vs jemalloc (``LD_PRELOAD``, when the system has libjemalloc).

Each (mode, size, repeat) runs in a fresh subprocess, one torch thread: the shipped ``cuau-emt``
potential (backend auto) through the ASE calculator on rattled fcc Cu, one warm-up call, then
``--steps`` force calls with moved positions (the list is rebuilt, as a calculator must).
Modes run interleaved per repeat, so a busy machine skews them alike; CPU time (user + sys)
is reported beside wall time. Prints a table (median over repeats, [min, max]) and writes
benchmarks/results/allocator.json.

Usage: python benchmarks/bench_allocator.py [--sizes 500 4000 32000] [--steps 10] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

WORKER = r"""
import json, resource, sys, time
import ase.build, torch
import mlip
from mlip.allocator import keep_freed_memory
mode, n_atoms, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == "keep_freed_memory":
    assert keep_freed_memory()
torch.set_num_threads(1)
rep = max(1, round((n_atoms / 4) ** (1 / 3)))
atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
atoms.rattle(0.05, seed=0)
atoms.calc = mlip.MLIPCalculator("cuau-emt")
atoms.get_forces()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
for _ in range(steps):
    atoms.positions += 1e-4
    atoms.get_forces()
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"n_atoms": len(atoms), "wall_s": wall, "user_s": r1.ru_utime - r0.ru_utime,
                  "sys_s": r1.ru_stime - r0.ru_stime, "minor_faults": r1.ru_minflt - r0.ru_minflt,
                  "max_rss_MB": r1.ru_maxrss / 1024, "backend": atoms.calc.potential.backend}))
"""


def run_one(mode: str, n_atoms: int, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if mode == "jemalloc":
        env["LD_PRELOAD"] = JEMALLOC
    proc = subprocess.run([sys.executable, "-c", WORKER, mode, str(n_atoms), str(steps)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {n_atoms}: {proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row.update(mode=mode, steps=steps)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 4000, 32000])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "allocator.json"))
    args = p.parse_args(argv)
    modes = ["default", "keep_freed_memory"] + (["jemalloc"] if os.path.exists(JEMALLOC) else [])
    rows = []
    for n in args.sizes:
        for k in range(args.repeat):
            for mode in modes:
                row = run_one(mode, n, args.steps)
                row["repeat"] = k
                rows.append(row)
                print(f"  {mode:<18} {row['n_atoms']:>7} atoms  repeat {k}: {row['n_atoms'] * args.steps / row['wall_s']:>8.0f} "
                      f"atom·steps/s  sys {row['sys_s']:.2f} s", flush=True)
    print(f"\n{'mode':<18}{'atoms':>8}{'atom·steps/s (wall)':>26}{'per CPU s':>12}{'sys/CPU':>9}"
          f"{'faults/step':>13}{'RSS MB':>8}{'vs default':>12}")
    summary = []
    for n in sorted({r["n_atoms"] for r in rows}):
        base = None
        for mode in modes:
            sel = [r for r in rows if r["n_atoms"] == n and r["mode"] == mode]
            rate = np.array([n * r["steps"] / r["wall_s"] for r in sel])
            cpu_rate = np.array([n * r["steps"] / (r["user_s"] + r["sys_s"]) for r in sel])
            sys_frac = np.median([r["sys_s"] / (r["user_s"] + r["sys_s"]) for r in sel])
            faults = np.median([r["minor_faults"] / r["steps"] for r in sel])
            rss = np.median([r["max_rss_MB"] for r in sel])
            med = float(np.median(rate))
            base = med if mode == "default" else base
            summary.append({"mode": mode, "n_atoms": n, "atom_steps_per_s_median": med, "min": float(rate.min()),
                            "max": float(rate.max()), "atom_steps_per_cpu_s_median": float(np.median(cpu_rate)),
                            "sys_fraction": float(sys_frac), "faults_per_step": float(faults), "max_rss_MB": float(rss),
                            "speedup_vs_default": med / base, "repeats": len(sel)})
            print(f"{mode:<18}{n:>8}{med:>10.0f} [{rate.min():.0f}, {rate.max():.0f}]".ljust(52)
                  + f"{np.median(cpu_rate):>12.0f}{sys_frac:>9.1%}{faults:>13.0f}{rss:>8.0f}{med / base:>11.2f}x")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(args.output), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"rows": rows, "summary": summary, "steps": args.steps, "threads": 1,
                   "potential": "cuau-emt", "python": sys.version.split()[0]}, f, indent=1)
    os.replace(tmp, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
