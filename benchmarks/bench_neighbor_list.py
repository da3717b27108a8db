"""Neighbour-list speed: mlip's native cell list vs matscipy vs vesin (full list, fcc Cu, 5 Å).

For 500, 4,000 and 32,000 atoms (and 10^6 with ``--million``), 1 and 2 threads, the median
wall time of the raw calls (positions already in each library's input format; outputs i, j and
integer shifts S):

* ``mlip native``: ``torch.ops.mlip.neighbor_list`` (returns pairs sorted by (i, j, S));
* ``vesin``: ``vesin.NeighborList(full_list=True)`` with ``sorted=False`` (its fastest) and
  ``sorted=True`` (sorted by i, j like ours), ``n_threads`` = the thread count;
* ``matscipy``: ``matscipy.neighbours.neighbour_list("ijS")`` (single-threaded).

vesin is a benchmark-only dependency: ``.venv/bin/pip install vesin`` (it is skipped when
missing). The number of pairs is checked to agree. Usage::

    .venv/bin/python benchmarks/bench_neighbor_list.py [--million] [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def fcc_copper(n_cells: int):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((n_cells,) * 3)
    atoms.rattle(0.05, seed=0)
    return atoms


def timed(fn, repeats: int):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--million", action="store_true", help="also 10^6 atoms (slow, ~2 GB per library)")
    args = p.parse_args(argv)

    import torch

    import mlip.ops

    mlip.ops.require()
    try:
        import vesin
    except ImportError:
        vesin = None
        print("[bench] vesin not installed (pip install vesin): skipped", file=sys.stderr)
    import matscipy.neighbours as mn

    sizes = [5, 10, 20] + ([63] if args.million else [])
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    for n_cells in sizes:
        atoms = fcc_copper(n_cells)
        n = len(atoms)
        pos_np = atoms.positions.copy()
        cell_np = np.asarray(atoms.cell[:])
        pos = torch.from_numpy(pos_np)
        cell = torch.from_numpy(cell_np).unsqueeze(0)
        pbc = torch.ones(1, 3, dtype=torch.bool)
        sidx = torch.zeros(n, dtype=torch.int64)
        reps = args.repeats if n < 100_000 else 2
        for nt in threads:
            torch.set_num_threads(nt)
            t_ours, (index, _) = timed(lambda: torch.ops.mlip.neighbor_list(pos, cell, pbc, sidx, args.cutoff), reps)
            n_pairs = index.shape[1]
            row = {"atoms": n, "threads": nt, "pairs": n_pairs, "mlip native": t_ours}
            if vesin is not None:
                for sort in (False, True):
                    nl = vesin.NeighborList(cutoff=args.cutoff, full_list=True, sorted=sort, n_threads=nt)
                    t, out = timed(lambda: nl.compute(pos_np, cell_np, True, quantities="ijS", copy=False), reps)
                    assert len(out[0]) == n_pairs, (len(out[0]), n_pairs)
                    row["vesin sorted" if sort else "vesin"] = t
            if nt == 1:
                t, out = timed(lambda: mn.neighbour_list("ijS", positions=pos_np, cell=cell_np, pbc=[True] * 3,
                                                         cutoff=args.cutoff), reps)
                assert len(out[0]) == n_pairs
                row["matscipy"] = t
            rows.append(row)
            print(f"[bench] {row}", file=sys.stderr, flush=True)
    torch.set_num_threads(max(threads))
    codes = ["mlip native", "vesin", "vesin sorted", "matscipy"]
    print(f"# Neighbour list, fcc Cu, cutoff {args.cutoff} Å, full list: median wall time (ms)\n")
    print("| atoms | threads | pairs | " + " | ".join(codes) + " | native vs vesin |")
    print("|---:|---:|---:|" + "---:|" * len(codes) + "---:|")
    for r in rows:
        cells = [f"{1e3 * r[c]:.2f}" if c in r else "–" for c in codes]
        ratio = f"{r['vesin'] / r['mlip native']:.2f}× faster" if "vesin" in r else "n/a"
        print(f"| {r['atoms']} | {r['threads']} | {r['pairs']} | " + " | ".join(cells) + f" | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
