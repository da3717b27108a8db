"""Energy + forces on one GPU, side by side: mlip (native and reference kernels), NequIP 0.19 and
MACE, plus the largest Cu cell each fits in the GPU's memory. Part of run_on_gpu.sh.

mlip runs in this process: the benchmark shape of benchmarks/peers/worker_mlip.py (l_max 2, 32
channels, 4 layers, 5 Å, elements H, O, Cu, random weights), structure already on the device,
each call = the device neighbour list + energy + forces (what an MD step costs), and, separately,
the model alone on a fixed edge list. The peers run in subprocesses of their own workers
(benchmarks/peers/worker_{nequip,mace,mlip}.py, ``--device``), timed as on the CPU through their
ASE calculators (ase.Atoms -> neighbour list on the CPU (matscipy) -> model on the GPU -> forces
in numpy); ``mlip-ase`` is mlip through the same kind of pipeline. Every time is the median of
``--repeats`` calls after ``--warmups``, with the device synchronised around each call.

Records (one per model, system and dtype; sizes searched: kind "largest") are written to
``--out`` (JSON list, rewritten after each record, so a run stopped by its time limit keeps
what it measured). ``--deadline`` (Unix time) stops starting new measurements.

    python3 benchmarks/gpu/gpu_bench_ef.py --device cuda --out ef.json \\
        --peer nequip=python3:/tmp/site_nequip:/tmp/site --peer mace=python3:/tmp/site_mace:/tmp/site
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(ROOT, "benchmarks", "peers")
sys.path.insert(0, PEERS)
sys.path.insert(0, ROOT)
import bench_systems  # noqa: E402

BENCHMARK_CONFIG = dict(elements=["H", "O", "Cu"], cutoff=5.0, l_max=2, channels=32, n_layers=4)
WORKERS = {"nequip": "worker_nequip.py", "mace": "worker_mace.py", "mlip-ase": "worker_mlip.py"}


class Recorder:
    """Collects records and rewrites ``path`` (JSON list) after each one."""

    def __init__(self, path: str, deadline: float):
        self.path, self.deadline, self.records = path, deadline, []

    def add(self, record: dict) -> None:
        self.records.append(record)
        print(json.dumps(record), flush=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.records, f, indent=1)
        os.replace(tmp, self.path)

    def time_left(self) -> float:
        return self.deadline - time.time()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_time(fn, device: str, repeats: int, warmups: int) -> List[float]:
    times = []
    for call in range(warmups + repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        if call >= warmups:
            times.append(time.perf_counter() - t0)
    return times


def _free(device: str) -> None:
    """Return cached GPU memory (after an out-of-memory error, before a new size)."""
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or isinstance(exc, MemoryError)


def mlip_potential(dtype_name: str, device: str, backend: str):
    import torch

    import mlip

    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    return mlip.build_potential(mlip.ModelConfig(**BENCHMARK_CONFIG), dtype=dtype, seed=0, device=device,
                                backend=backend)


def time_mlip(pot, atoms, device: str, repeats: int, warmups: int, model_only: bool = True) -> dict:
    """NL + E + F per call on the device (and the model alone on a fixed edge list)."""
    import torch

    import mlip

    _free(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    system = mlip.system_from_atoms(atoms, dtype=pot.dtype)
    system = mlip.System(*(t.to(device) if t is not None else None for t in system))
    out = {}

    def step():
        edges = mlip.neighbor_list(system, pot.cutoff, backend="native")
        out["pred"] = pot(system, edges)
        out["n_edges"] = int(edges.index.shape[1])

    times = _median_time(step, device, repeats, warmups)
    pred = out["pred"]
    record = {"n_atoms": len(atoms), "n_edges": out["n_edges"], "times_s": times, "median_s": statistics.median(times),
              "min_s": min(times), "max_s": max(times),
              "atom_steps_per_s": len(atoms) / statistics.median(times),
              "energy_eV": float(pred.energy.sum()), "max_abs_force_eV_per_A": float(pred.forces.abs().max()),
              "finite": bool(torch.isfinite(pred.forces).all())}
    if model_only:
        edges = mlip.neighbor_list(system, pot.cutoff, backend="native")
        model_times = _median_time(lambda: pot(system, edges), device, repeats, 1)
        record["model_only_median_s"] = statistics.median(model_times)
    if device.startswith("cuda"):
        record["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    return record


def run_mlip(rec: Recorder, args, systems: List[str], dtypes: List[str]) -> None:
    for backend in ("native", "reference"):
        for dtype in dtypes:
            pot = mlip_potential(dtype, args.device, backend)
            for name in systems:
                base = {"kind": "ef", "model": f"mlip-{backend}", "system": name, "dtype": dtype, "device": args.device}
                if rec.time_left() < args.reserve_s:
                    rec.add({**base, "error": "skipped: out of time"})
                    continue
                try:
                    rec.add({**base, **time_mlip(pot, bench_systems.build_system(name), args.device, args.repeats,
                                                 args.warmups)})
                except RuntimeError as exc:
                    rec.add({**base, "error": "out of memory" if _is_oom(exc) else f"{type(exc).__name__}: {exc}"[:400]})
            del pot


def largest_mlip(rec: Recorder, args, backend: str, dtype: str) -> None:
    """Grow the Cu cell (``--search-cells``) until a call runs out of memory or time, then one
    bisection step between the last size that fitted and the first that did not."""
    pot = mlip_potential(dtype, args.device, backend)
    ok, failed = None, None

    def attempt(n: int) -> bool:
        nonlocal ok, failed
        oom = False
        try:
            ok = (n, time_mlip(pot, bench_systems.fcc_cu(n), args.device, 1, 0, model_only=False))
            rec.add({"kind": "ef-size", "model": f"mlip-{backend}", "system": f"cu_cells{n}", "dtype": dtype,
                     "device": args.device, **ok[1]})
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            oom = True
        if oom:  # outside the except block: the traceback no longer holds the tensors
            failed = n
            _free(args.device)
        return not oom

    try:
        for n in args.search_cells:
            if rec.time_left() < args.reserve_s or not attempt(n):
                break
        if ok is not None and failed is not None and failed - ok[0] > 1 and rec.time_left() > args.reserve_s:
            attempt((ok[0] + failed) // 2)
    except RuntimeError as exc:
        rec.add({"kind": "largest", "model": f"mlip-{backend}", "dtype": dtype, "error": str(exc)[:400]})
        return
    record = {"kind": "largest", "model": f"mlip-{backend}", "dtype": dtype, "device": args.device,
              "largest_ok_atoms": None if ok is None else 4 * ok[0] ** 3,
              "first_oom_atoms": None if failed is None else 4 * failed ** 3,
              "limited_by": "memory" if failed is not None else "time or size list"}
    if ok is not None:
        record.update({"median_s": ok[1]["median_s"], "peak_gpu_gib": ok[1].get("peak_gpu_gib"),
                       "atom_steps_per_s": ok[1]["atom_steps_per_s"]})
    rec.add(record)


def run_worker(rec: Recorder, args, model: str, python: str, path: str, systems: List[str], dtype: str,
               repeats: int, warmups: int, stop_at_oom: bool, kind: str) -> List[dict]:
    """One worker process for several systems; its JSON lines become records."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in (path, ROOT, env.get("PYTHONPATH", "")) if p])
    command = [python, os.path.join(PEERS, WORKERS[model]), "--system", ",".join(systems), "--dtype", dtype,
               "--device", args.device, "--repeats", str(repeats), "--warmups", str(warmups)]
    command += ["--stop-at-oom"] if stop_at_oom else []
    timeout = max(10.0, rec.time_left() - args.reserve_s)
    base = {"kind": kind, "model": model, "dtype": dtype, "device": args.device}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        out, err, code = (exc.stdout or ""), (exc.stderr or ""), "timeout"
        out = out.decode() if isinstance(out, bytes) else out
        err = err.decode() if isinstance(err, bytes) else err
    else:
        out, err, code = done.stdout, done.stderr, done.returncode
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for line in lines:
        rec.add({**line, **base})
    if code != 0:
        rec.add({**base, "systems": systems, "error": f"worker exit {code}: {err.strip()[-600:]}"})
    return lines


def largest_from_lines(rec: Recorder, model: str, dtype: str, device: str, lines: List[dict]) -> None:
    good = [r["n_atoms"] for r in lines if "error" not in r]
    oom = [r["n_atoms"] for r in lines if r.get("error") == "out of memory"]
    rec.add({"kind": "largest", "model": model, "dtype": dtype, "device": device,
             "largest_ok_atoms": max(good) if good else None, "first_oom_atoms": min(oom) if oom else None,
             "limited_by": "memory" if oom else "time or size list"})


def parse_peers(specs: List[str]) -> Dict[str, tuple]:
    """``name=python[:path[:path...]]`` -> {name: (python, extra PYTHONPATH)}."""
    peers = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        python, _, path = rest.partition(":")
        if name not in WORKERS or not python:
            raise SystemExit(f"--peer {spec!r}: expected NAME=PYTHON[:PATH...] with NAME in {sorted(WORKERS)}")
        peers[name] = (python, path)
    return peers


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--systems", default="cu500,cu4000,cu32000,water1536")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmups", type=int, default=1)
    p.add_argument("--search-cells", default="20,32,40,50,63,79",
                   help="fcc Cu cells per edge tried for the largest cell (4 N^3 atoms), ascending")
    p.add_argument("--peer-search-cells", default="20,32,40,50")
    p.add_argument("--peer", action="append", default=[], help="NAME=PYTHON[:PYTHONPATH...] (nequip, mace, mlip-ase)")
    p.add_argument("--out", required=True)
    p.add_argument("--deadline", type=float, default=time.time() + 3600, help="Unix time to stop starting work")
    p.add_argument("--reserve-s", type=float, default=5.0, help="do not start a measurement with less time left")
    args = p.parse_args(argv)
    args.search_cells = [int(c) for c in args.search_cells.split(",") if c]
    peer_cells = [f"cu_cells{int(c)}" for c in args.peer_search_cells.split(",") if c]
    systems, dtypes = args.systems.split(","), args.dtypes.split(",")
    rec = Recorder(args.out, args.deadline)
    run_mlip(rec, args, systems, dtypes)
    peers = parse_peers(args.peer)
    for model, (python, path) in peers.items():
        for dtype in dtypes:
            if rec.time_left() > args.reserve_s:
                run_worker(rec, args, model, python, path, systems, dtype, args.repeats, args.warmups, False, "ef")
    for backend in ("native", "reference"):
        if rec.time_left() > args.reserve_s:
            largest_mlip(rec, args, backend, dtypes[0])
    for model, (python, path) in peers.items():
        if model != "mlip-ase" and rec.time_left() > args.reserve_s:
            lines = run_worker(rec, args, model, python, path, peer_cells, dtypes[0], 1, 0, True, "largest-try")
            largest_from_lines(rec, model, dtypes[0], args.device, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
