"""Neighbour list on one device: mlip's native cell list against vesin (its CUDA path when the
positions are CUDA tensors), fcc Cu at 5 Å from ~1k to ~1M atoms. Part of run_on_gpu.sh.

Both take the positions already on the device, float64, periodic cubic cell, and return the full
list (both directions) with integer shifts; mlip's is also sorted by (receiver, sender, shift),
vesin's is asked for ``sorted=True`` (sorted by the first index only). Each time is the median
of ``--repeats`` calls after ``--warmups``, synchronised; the pair counts are compared.

    python3 benchmarks/gpu/gpu_bench_nl.py --device cuda --out nl.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "peers"))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
import bench_systems  # noqa: E402
from gpu_bench_ef import Recorder, _median_time  # noqa: E402

CUTOFF_A = 5.0


def mlip_list(positions, cell, cutoff):
    import torch

    n = positions.shape[0]
    system_index = torch.zeros(n, dtype=torch.int64, device=positions.device)
    pbc = torch.ones(1, 3, dtype=torch.bool, device=positions.device)
    return torch.ops.mlip.neighbor_list(positions, cell.unsqueeze(0), pbc, system_index, cutoff)


def time_one(rec: Recorder, n_cells: int, device: str, repeats: int, warmups: int) -> None:
    import torch

    import mlip.ops

    atoms = bench_systems.fcc_cu(n_cells)
    positions = torch.tensor(atoms.positions, dtype=torch.float64, device=device)
    cell = torch.tensor(atoms.cell.array, dtype=torch.float64, device=device)
    base = {"kind": "nl", "n_atoms": len(atoms), "cutoff_A": CUTOFF_A, "device": device}
    mlip.ops.require()
    out = {}
    times = _median_time(lambda: out.update(mlip=mlip_list(positions, cell, CUTOFF_A)), device, repeats, warmups)
    n_mlip = int(out["mlip"][0].shape[1])
    rec.add({**base, "code": "mlip", "median_s": statistics.median(times), "times_s": times, "n_pairs": n_mlip})
    del out["mlip"]
    try:
        from vesin import NeighborList
    except ImportError as exc:
        rec.add({**base, "code": "vesin", "error": f"not installed: {exc}"})
        return
    calc = NeighborList(cutoff=CUTOFF_A, full_list=True, sorted=True)
    try:
        times = _median_time(lambda: out.update(vesin=calc.compute(points=positions, box=cell, periodic=True,
                                                                   quantities="ijS")),
                             device, repeats, warmups)
    except Exception as exc:  # noqa: BLE001 - vesin's CUDA path needs nvrtc at run time; report why it failed
        rec.add({**base, "code": "vesin", "error": f"{type(exc).__name__}: {str(exc)[:400]}"})
        return
    n_vesin = int(out["vesin"][0].shape[0])
    rec.add({**base, "code": "vesin", "median_s": statistics.median(times), "times_s": times, "n_pairs": n_vesin,
             "same_pair_count": n_vesin == n_mlip, "version": getattr(sys.modules.get("vesin"), "__version__", "?")})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--cells", default="6,13,25,32,50,63",
                   help="fcc cells per edge (4 N^3 atoms: 864, 8788, 62500, 131072, 500000, 1000188)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmups", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("--deadline", type=float, default=time.time() + 3600)
    args = p.parse_args(argv)
    rec = Recorder(args.out, args.deadline)
    for n in [int(c) for c in args.cells.split(",") if c]:
        if rec.time_left() < 5.0:
            rec.add({"kind": "nl", "n_atoms": 4 * n**3, "error": "skipped: out of time"})
            continue
        try:
            time_one(rec, n, args.device, args.repeats, args.warmups)
        except RuntimeError as exc:
            rec.add({"kind": "nl", "n_atoms": 4 * n**3, "error": f"{type(exc).__name__}: {str(exc)[:400]}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
