"""Neighbour-list speed: mlip's native cell list vs vesin vs matscipy (full list, fcc Cu, 5 Å).

For 500, 4,000 and 32,000 atoms, 1 and 2 threads (and, one thread, the same crystals with the
atoms numbered in random order, as after long MD of a liquid), side by side in one process: every repeat
calls each code once, in a rotating order, and the table gives the median wall time and the
median CPU time of the process (user + system, all threads) per call. Raw calls, positions
already in each library's input format, outputs i, j and integer shifts S:

* ``mlip native``: ``torch.ops.mlip.neighbor_list`` (new tensors, sorted by (i, j, S));
* ``vesin``: ``vesin.NeighborList(full_list=True, sorted=False)``, ``copy=False`` — its fastest:
  unsorted, and the output arrays are vesin's own buffers, reused (and overwritten) by the next
  call, so no fresh memory is touched;
* ``vesin copy``: the same with ``copy=True`` (fresh arrays, like the other codes);
* ``vesin sorted``: ``sorted=True`` (sorted by (i, j) like ours), ``copy=False``;
* ``matscipy``: ``matscipy.neighbours.neighbour_list("ijS")`` (single-threaded: 1-thread rows).

``--million`` adds 1,000,188 atoms (63^3 cells), each code once in its own subprocess (one
thread) with its peak resident memory (the rise of ru_maxrss during the call, i.e. output plus
scratch). vesin is a benchmark-only dependency: ``.venv/bin/pip install vesin`` (skipped when
missing). The number of pairs is checked to agree. Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_neighbor_list.py [--repeats 9] [--million]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

CODES = ["mlip native", "vesin", "vesin copy", "vesin sorted", "matscipy"]


def fcc_copper(n_cells: int):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((n_cells,) * 3)
    atoms.rattle(0.05, seed=0)
    return atoms


def callables(atoms, cutoff: float, threads: int) -> dict:
    """code -> zero-argument call returning (i, ...) for this structure and thread count."""
    import torch

    pos_np = atoms.positions.copy()
    cell_np = np.asarray(atoms.cell[:])
    pos = torch.from_numpy(pos_np)
    cell = torch.from_numpy(cell_np).unsqueeze(0)
    pbc = torch.ones(1, 3, dtype=torch.bool)
    sidx = torch.zeros(len(atoms), dtype=torch.int64)
    out = {"mlip native": lambda: torch.ops.mlip.neighbor_list(pos, cell, pbc, sidx, cutoff)}
    try:
        import vesin
    except ImportError:
        vesin = None
        print("[bench] vesin not installed (pip install vesin): skipped", file=sys.stderr)
    if vesin is not None:
        unsorted = vesin.NeighborList(cutoff=cutoff, full_list=True, sorted=False, n_threads=threads)
        by_pair = vesin.NeighborList(cutoff=cutoff, full_list=True, sorted=True, n_threads=threads)
        out["vesin"] = lambda: unsorted.compute(pos_np, cell_np, True, quantities="ijS", copy=False)
        out["vesin copy"] = lambda: unsorted.compute(pos_np, cell_np, True, quantities="ijS", copy=True)
        out["vesin sorted"] = lambda: by_pair.compute(pos_np, cell_np, True, quantities="ijS", copy=False)
    if threads == 1:
        import matscipy.neighbours as mn

        out["matscipy"] = lambda: mn.neighbour_list("ijS", positions=pos_np, cell=cell_np, pbc=[True] * 3,
                                                    cutoff=cutoff)
    return out


def n_pairs(result) -> int:
    return int(result[0].shape[-1]) if hasattr(result[0], "shape") else len(result[0])


def interleaved(fns: dict, repeats: int) -> dict:
    """code -> (median wall s, median CPU s, pairs); each repeat calls every code once."""
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    pairs = {}
    names = list(fns)
    for k in names:  # warm-up
        pairs[k] = n_pairs(fns[k]())
    for rep in range(repeats):
        for k in names[rep % len(names):] + names[: rep % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            result = fns[k]()
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - t0)
            del result
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k]), pairs[k]) for k in names}


def worker(code: str, n_cells: int, cutoff: float, threads: int) -> None:
    """One call of one code in this process; prints JSON (wall, CPU, pairs, peak RSS rise)."""
    import torch

    import mlip.ops

    mlip.ops.require()
    torch.set_num_threads(threads)
    atoms = fcc_copper(n_cells)
    fn = callables(atoms, cutoff, threads)[code]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"code": code, "atoms": len(atoms), "pairs": n_pairs(result), "wall": wall, "cpu": cpu,
                      "rss_before_GiB": before / 2**20, "peak_rise_GiB": (after - before) / 2**20}))


def million(cutoff: float, threads: int) -> list:
    rows = []
    for code in ["mlip native", "vesin", "vesin sorted", "matscipy"]:
        cmd = [sys.executable, __file__, "--worker", code, "--n-cells", "63", "--cutoff", str(cutoff),
               "--threads", str(threads)]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"[bench] {code} at 10^6 atoms failed: {proc.stderr[-500:]}", file=sys.stderr)
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"[bench] {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--cells", default="5,10,20", help="fcc unit cells per edge (4 atoms each)")
    p.add_argument("--million", action="store_true", help="also 10^6 atoms, one thread, subprocesses")
    p.add_argument("--shuffled", action=argparse.BooleanOptionalAction, default=True,
                   help="also each size with the atoms numbered in random order (one thread)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n-cells", type=int, default=63, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    if args.worker:
        worker(args.worker, args.n_cells, args.cutoff, threads[0])
        return 0

    import torch

    import mlip.ops

    mlip.ops.require()
    rows = []
    for n_cells in [int(c) for c in args.cells.split(",")]:
        ordered = fcc_copper(n_cells)
        shuffled = ordered[np.random.default_rng(0).permutation(len(ordered))]
        runs = [(ordered, nt, "") for nt in threads] + ([(shuffled, 1, " random order")] if args.shuffled else [])
        for atoms, nt, label in runs:
            torch.set_num_threads(nt)
            res = interleaved(callables(atoms, args.cutoff, nt), args.repeats)
            counts = {v[2] for v in res.values()}
            assert len(counts) == 1, f"pair counts differ: {res}"
            rows.append({"atoms": f"{len(atoms)}{label}", "threads": nt, "pairs": counts.pop(), **res})
            print(f"[bench] {rows[-1]}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"# Neighbour list, fcc Cu, cutoff {args.cutoff} Å, full list: median ms per call, wall (CPU)\n")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.repeats} interleaved repeats, "
          f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores.\n")
    print("| atoms | threads | pairs | " + " | ".join(CODES) + " | native vs vesin, wall (CPU) |")
    print("|---:|---:|---:|" + "---:|" * len(CODES) + "---:|")
    for r in rows:
        cells = [f"{1e3 * r[c][0]:.2f} ({1e3 * r[c][1]:.2f})" if c in r else "–" for c in CODES]
        ratio = "n/a"
        if "vesin" in r:
            ratio = f"{r['vesin'][0] / r['mlip native'][0]:.2f}× ({r['vesin'][1] / r['mlip native'][1]:.2f}×)"
        print(f"| {r['atoms']} | {r['threads']} | {r['pairs']} | " + " | ".join(cells) + f" | {ratio} |")
    if args.million:
        big = million(args.cutoff, 1)
        print("\n10^6 atoms, one call each in its own process, one thread:\n")
        print("| code | atoms | pairs | wall s | CPU s | peak RSS rise GiB (process before: GiB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for b in big:
            print(f"| {b['code']} | {b['atoms']} | {b['pairs']} | {b['wall']:.2f} | {b['cpu']:.2f} | "
                  f"{b['peak_rise_GiB']:.2f} ({b['rss_before_GiB']:.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
