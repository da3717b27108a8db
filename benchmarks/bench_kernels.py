"""mlip's native kernels vs its pure-torch reference (and NequIP): energy + forces throughput.

Side by side in one run, for each system (cu500, cu2048, water192, water1536), dtype (float32,
float64) and thread count (1 and 2 cores): atom·steps/s of energy + forces (+ stress, as the
ASE calculator computes it for periodic cells) through ``mlip.MLIPCalculator``, neighbour list
included, for

* ``reference``: the pure-torch tensor product, matscipy neighbour list;
* ``native``: ``ModelConfig(backend="native")`` (fused C++ tensor product with C++ backward)
  and the native neighbour list;
* ``native+spline``: the same, with the radial MLPs tabulated (``mlip.models.radial_tabulation.tabulate_radial``);
* ``nequip`` (one core only): NequIP 0.19 of the same shape, through the peer harness's worker
  (``benchmarks/bench_model_vs_peers.py``, its venv made by ``benchmarks/peers/setup_peer_venvs.sh``).

Model shape (as the peer benchmark): l_max 2, 32 channels, 4 layers, cutoff 5 Å, elements H O Cu,
randomly initialised with seed 0, so every mlip backend computes the same function: the table
reports the energy difference to the reference backend.

Each configuration runs in a fresh subprocess pinned with ``taskset`` (cores 0, or 0-1), so peak
RSS (getrusage) is per configuration. The machine may be shared: ``cpu/wall`` < ~0.95 means other
processes took the cores; ``atom·steps/CPU-s`` (process CPU time; divide by the thread count for
a per-core figure) is less sensitive to that.

Usage (repository root)::

    .venv/bin/python benchmarks/bench_kernels.py                          # everything
    .venv/bin/python benchmarks/bench_kernels.py --systems cu500 --dtypes float32 --threads 1
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, PEERS)
sys.path.insert(0, HERE)

BACKENDS = ("reference", "native", "native+spline")
SYSTEMS = ("cu500", "cu2048", "water192", "water1536")
SHAPE = dict(elements=["H", "O", "Cu"], cutoff=5.0, l_max=2, channels=32, n_layers=4)


def worker(args) -> None:
    """Time one (system, dtype, threads, backend) configuration and print one JSON line."""
    sys.path.insert(0, REPO)
    import bench_systems
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import mlip
    from mlip.models.radial_tabulation import tabulate_radial

    native = args.backend.startswith("native")
    config = mlip.ModelConfig(**SHAPE, backend="native" if native else "reference")
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    pot = mlip.build_potential(config, dtype=dtype, seed=0)
    if args.backend == "native+spline":
        pot = tabulate_radial(pot)
    calc = mlip.MLIPCalculator(pot, neighbor_backend="native" if native else "matscipy")
    atoms = bench_systems.build_system(args.system)
    result = bench_systems.time_energy_forces(atoms, calc, args.repeats, args.warmups)
    bench_systems.emit(
        {
            "model": f"mlip {args.backend}",
            "backend": args.backend,
            "system": args.system,
            "n_atoms": len(atoms),
            "dtype": args.dtype,
            "threads": args.threads,
            "torch": torch.__version__,
            "version": mlip.__version__,
            "n_params": sum(p.numel() for p in pot.parameters()),
            **result,
        }
    )


def op_timings(threads: int, repeats: int) -> str:
    """Per-op CPU times of tp_conv (a middle layer of the benchmark shape on cu500's graph: 500
    nodes, 21,362 edges, 32 channels, l = 2 x 2 -> 2): forward, + backward, + double backward."""
    sys.path.insert(0, REPO)
    import time

    import torch

    import mlip
    from mlip.nn.native_tensor_product import NativeChannelwiseTensorProduct
    from mlip.nn.tensor_product import ChannelwiseTensorProduct
    import bench_systems

    torch.set_num_threads(threads)
    atoms = bench_systems.build_system("cu500")
    edges = mlip.neighbor_list(mlip.system_from_atoms(atoms), 5.0)
    receiver, sender = edges.index[0], edges.index[1]
    n, e, c = len(atoms), edges.index.shape[1], 32

    def cpu_time(fn):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        return 1e3 * min(times)

    lines = ["| dtype | code | forward ms | forward + backward ms | + double backward ms |", "|---|---|---:|---:|---:|"]
    for dtype in (torch.float32, torch.float64):
        for name, cls in (("reference", ChannelwiseTensorProduct), ("native", NativeChannelwiseTensorProduct)):
            tp = cls(2, 2, 2, True).to(dtype)
            g = torch.Generator().manual_seed(0)
            x = torch.randn(n, c, 9, generator=g, dtype=dtype, requires_grad=True)
            sh = torch.randn(e, 9, generator=g, dtype=dtype, requires_grad=True)
            w = torch.randn(e, tp.n_paths, c, generator=g, dtype=dtype, requires_grad=True)
            go = torch.randn(n, c, 9, generator=g, dtype=dtype)

            def fwd():
                with torch.no_grad():
                    tp(x, sh, w, sender, receiver)

            def bwd():
                torch.autograd.grad(tp(x, sh, w, sender, receiver), (x, sh, w), go)

            def dbl():
                grads = torch.autograd.grad(tp(x, sh, w, sender, receiver), (x, sh, w), go, create_graph=True)
                torch.autograd.grad(sum((t * t).sum() for t in grads), (x, sh, w))

            lines.append(f"| {str(dtype)[6:]} | {name} | {cpu_time(fwd):.1f} | {cpu_time(bwd):.1f} | {cpu_time(dbl):.1f} |")
    return "\n".join(lines)


def run_mlip(system: str, dtype: str, threads: int, backend: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--system", system, "--dtype", dtype,
           "--threads", str(threads), "--backend", backend, "--repeats", str(args.repeats),
           "--warmups", str(args.warmups)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0" if threads == 1 else f"0-{threads - 1}"] + cmd
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    base = {"model": f"mlip {backend}", "backend": backend, "system": system, "dtype": dtype, "threads": threads}
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {args.timeout} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {**base, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def run_nequip(system: str, dtype: str, args) -> dict:
    """NequIP through the peer harness's own worker (one core, one thread)."""
    base = {"model": "nequip", "backend": "nequip", "system": system, "dtype": dtype, "threads": 1}
    try:
        import bench_model_vs_peers as peers
    except ImportError as exc:
        return {**base, "error": f"peer harness unavailable: {exc}"}
    spec = peers.model_specs(args.venvs_dir)["nequip"]
    if not os.path.exists(spec.python):
        return {**base, "error": f"no NequIP venv at {spec.python} ({spec.how_to_get})"}
    ns = types.SimpleNamespace(repeats=args.repeats, warmups=args.warmups, core="0" if shutil.which("taskset") else None,
                               timeout=args.timeout)
    record = peers.run_worker(spec, system, dtype, ns)
    record.update(backend="nequip", threads=1)
    return record


def table(rows) -> str:
    ref = {(r["system"], r["dtype"], r["threads"]): r for r in rows if r.get("backend") == "reference" and "error" not in r}
    neq = {(r["system"], r["dtype"]): r for r in rows if r.get("backend") == "nequip" and "error" not in r}
    head = ("| system | atoms | dtype | threads | code | atom·steps/s | × reference | × NequIP (1 core) "
            "| peak RSS GiB | atom·steps/CPU-s | cpu/wall | energy − reference (eV) |")
    out = [head, "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['system']} | | {r['dtype']} | {r['threads']} | {r['backend']} | error: {r['error']} "
                       "| | | | | | |")
            continue
        rr = ref.get((r["system"], r["dtype"], r["threads"]))
        nq = neq.get((r["system"], r["dtype"]))
        rate = r["atom_steps_per_s"]
        cpu_rate = r["n_atoms"] / statistics.median(r["cpu_times_s"])
        x_ref = f"{rate / rr['atom_steps_per_s']:.2f}" if rr else "n/a"
        x_neq = f"{rate / nq['atom_steps_per_s']:.2f}" if nq else "n/a"
        de = f"{r['energy_eV'] - rr['energy_eV']:+.2e}" if rr and r["backend"] != "nequip" else ""
        out.append(f"| {r['system']} | {r['n_atoms']} | {r['dtype']} | {r['threads']} | {r['backend']} | {rate:.1f} "
                   f"| {x_ref} | {x_neq} | {r['peak_rss_gib']:.2f} | {cpu_rate:.1f} | {r['cpu_over_wall']:.2f} | {de} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--system", default="cu500", help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="native", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--thread-counts", default="1,2")
    p.add_argument("--backends", default=",".join(BACKENDS) + ",nequip")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmups", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--venvs-dir", default=os.environ.get("PEERS_DIR", "/tmp/peers"))
    p.add_argument("--output", default=os.path.join(RESULTS, "kernels.md"), help="markdown report ('' = none)")
    p.add_argument("--ops", action="store_true", help="only per-op timings of tp_conv (this process, 1 thread)")
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.ops:
        print(op_timings(1, max(args.repeats, 3)))
        return 0
    systems = [s for s in args.systems.split(",") if s]
    dtypes = [d for d in args.dtypes.split(",") if d]
    threads = [int(t) for t in args.thread_counts.split(",") if t]
    backends = [b for b in args.backends.split(",") if b]
    rows = []
    for system in systems:
        for dtype in dtypes:
            for n in threads:
                for backend in backends:
                    if backend == "nequip":
                        if n != 1:
                            continue
                        record = run_nequip(system, dtype, args)
                    else:
                        record = run_mlip(system, dtype, n, backend, args)
                    msg = record.get("error") or (f"{record['atom_steps_per_s']:.1f} atom·steps/s, "
                                                  f"{record['peak_rss_gib']:.2f} GiB, cpu/wall {record['cpu_over_wall']:.2f}")
                    print(f"[bench] {system} {dtype} {n} thread(s) {backend}: {msg}", file=sys.stderr, flush=True)
                    rows.append(record)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        "# mlip kernels: energy + forces throughput, native vs reference vs NequIP",
        "",
        f"- date: {when}; machine: {os.cpu_count()} cores; command: `python benchmarks/bench_kernels.py "
        + " ".join(argv if argv is not None else sys.argv[1:]) + "`",
        "- shape: l_max 2, 32 channels, 4 layers, 5 Å, elements H O Cu (NequIP: the same shape); E + F (+ stress) "
        f"through the ASE calculator incl. neighbour list; median of {args.repeats} after {args.warmups} warm-up.",
        "- cpu/wall < ~0.95: other processes shared the cores; compare ratios within one run.",
        "",
        table(rows),
        "",
    ])
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        with open(args.output, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.output)[0] + ".json", "w") as f:
            json.dump({"date": when, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
