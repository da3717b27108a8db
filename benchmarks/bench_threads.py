"""Benchmark: two-thread scaling of the native ops (E+F of ``cuau-emt``) and of an ``mlip md`` run.

Each (case, threads, repeat) runs in a fresh subprocess pinned with ``taskset`` to one core
(``-c 0``, 1 thread) or to both (``-c 0,1``, 2 threads), with ``OMP_NUM_THREADS`` and
``torch.set_num_threads`` set alike; threads alternate within each repeat. Run it on an idle
machine: the ratio is only a scaling measurement when the second core is free (the script
prints the load average before and after). Prints a table (median over repeats, [min, max])
and writes benchmarks/results/threads.json.

Cases:
* ``E+F``: the ASE calculator on rattled fcc Cu (``--atoms``), native kernels and neighbour list,
  ``--steps`` force calls after a warm-up, process allocator tuned as the CLI does.
* ``mlip md``: the CLI, NVE, ``--md-steps`` steps of the same crystal at 300 K.

Usage: python benchmarks/bench_threads.py [--atoms 4000] [--steps 10] [--md-steps 50] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FORCES = r"""
import json, sys, time
import ase.build, torch, mlip
from mlip.allocator import keep_freed_memory
keep_freed_memory()
threads, n_atoms, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
rep = max(1, round((n_atoms / 4) ** (1 / 3)))
atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
atoms.rattle(0.05, seed=0)
atoms.calc = mlip.MLIPCalculator("cuau-emt", backend="native", neighbor_backend="native")
atoms.get_forces()
t0 = time.perf_counter()
for _ in range(steps):
    atoms.positions += 1e-4
    atoms.get_forces()
print(json.dumps({"n_atoms": len(atoms), "seconds": time.perf_counter() - t0, "units": steps}))
"""


def _structure(folder: str, n_atoms: int) -> str:
    import ase.build
    import ase.io

    rep = max(1, round((n_atoms / 4) ** (1 / 3)))
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
    path = os.path.join(folder, "cu.extxyz")
    ase.io.write(path, atoms)
    return path


def run_case(case: str, threads: int, args, folder: str) -> dict:
    cores = "0" if threads == 1 else "0,1"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if case == "E+F":
        cmd = ["taskset", "-c", cores, sys.executable, "-c", FORCES, str(threads), str(args.atoms), str(args.steps)]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = row["n_atoms"] * row["units"] / row["seconds"]
    else:
        out = os.path.join(folder, f"md_{threads}_{time.monotonic_ns()}")
        structure = _structure(folder, args.atoms)
        cmd = ["taskset", "-c", cores, sys.executable, "-m", "mlip.cli", "md", "--potential", "cuau-emt",
               "--structure", structure, "--ensemble", "nve", "--temperature-K", "300", "--timestep-fs", "2",
               "--steps", str(args.md_steps), "--output", out, "--backend", "native"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        # the CLI reports atom·steps/s of the stepping loop (start-up excluded)
        line = next(l for l in proc.stdout.splitlines() if "atom·steps/s" in l)
        rate = float(line.split(",")[1].split("atom")[0])
        shutil.rmtree(out, ignore_errors=True)
        row = {"n_atoms": args.atoms, "process_wall_s": wall}
    row.update(case=case, threads=threads, atom_steps_per_s=rate)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=4000)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--md-steps", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "threads.json"))
    args = p.parse_args(argv)
    if shutil.which("taskset") is None:
        p.error("taskset (util-linux) is needed to pin the runs to cores")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for k in range(args.repeat):
            for case in ("E+F", "mlip md"):
                for threads in (1, 2):
                    row = run_case(case, threads, args, folder)
                    row["repeat"] = k
                    rows.append(row)
                    print(f"  {case:<8} {threads} thread(s) repeat {k}: {row['atom_steps_per_s']:.0f} atom·steps/s", flush=True)
    load_after = os.getloadavg()
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(f"{'case':<10}{'atoms':>7}{'1 thread':>24}{'2 threads':>24}{'speed-up':>10}")
    summary = []
    for case in ("E+F", "mlip md"):
        rates = {t: np.array([r["atom_steps_per_s"] for r in rows if r["case"] == case and r["threads"] == t]) for t in (1, 2)}
        med = {t: float(np.median(v)) for t, v in rates.items()}
        ratios = np.array([b / a for a, b in zip(rates[1], rates[2])])  # paired per repeat
        summary.append({"case": case, "n_atoms": args.atoms, "median_1": med[1], "median_2": med[2],
                        "speedup_median": float(np.median(ratios)), "speedup_min": float(ratios.min()),
                        "speedup_max": float(ratios.max()), "repeats": len(ratios)})
        cell = lambda t: f"{med[t]:.0f} [{rates[t].min():.0f}, {rates[t].max():.0f}]"  # noqa: E731
        print(f"{case:<10}{args.atoms:>7}{cell(1):>24}{cell(2):>24}{np.median(ratios):>9.2f}x")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(args.output), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"rows": rows, "summary": summary, "load_before": load_before, "load_after": load_after,
                   "cpu_count": os.cpu_count()}, f, indent=1)
    os.replace(tmp, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
