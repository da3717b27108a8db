"""mlip against its peers (NequIP, MACE): energy + forces speed on one CPU core, side by side.

Each (model, system, dtype) runs in a fresh subprocess of that model's own venv python,
pinned to one core (``taskset -c CORE``); the worker sets torch to one thread, builds a
randomly initialised model, times energy + forces through the code's ASE calculator
(neighbour list included; median of ``--repeats`` after ``--warmups``) and prints one JSON
line. Workers live in ``benchmarks/peers/``; the peer venvs are made by
``benchmarks/peers/setup_peer_venvs.sh``. A model whose python is missing is skipped with
a message; a worker that fails is reported and the others still run.

The table goes to stdout and, atomically, to ``benchmarks/results/model_vs_peers.md``
(raw records beside it in ``model_vs_peers.json``).

Usage (from the repository root; needs only the standard library)::

    python3 benchmarks/bench_model_vs_peers.py                      # cu500 + water192, float32
    python3 benchmarks/bench_model_vs_peers.py --models nequip,mlip --systems cu108 \\
        --dtypes float32,float64 --rounds 3

The machine is shared, so absolute numbers are noisy (the ``cpu/wall`` column falls below
~0.95 when other processes took the core); compare the ratios of one run. ``--rounds N``
interleaves N passes over all models and reports the median rate per row.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
PEERS_DIR = os.path.join(BENCH_DIR, "peers")
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DEFAULT_VENVS_DIR = os.environ.get("PEERS_DIR", "/tmp/peers")

sys.path.insert(0, PEERS_DIR)
from bench_systems import SYSTEMS  # noqa: E402  (standard library only at import)

REFERENCE_MODEL = "nequip"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    python: str  # interpreter of the model's own venv
    worker: str  # worker script path
    how_to_get: str  # printed when ``python`` is missing
    extra_args: Tuple[str, ...] = ()  # worker-specific flags, e.g. mlip's --config-json


def model_specs(venvs_dir: str) -> Dict[str, ModelSpec]:
    """The models the driver knows, in table order."""
    setup = "bash benchmarks/peers/setup_peer_venvs.sh"
    return {
        "mlip": ModelSpec(
            "mlip",
            "mlip",
            os.environ.get("MLIP_PYTHON", os.path.join(REPO_ROOT, ".venv", "bin", "python")),
            os.path.join(PEERS_DIR, "worker_mlip.py"),
            "create the repository venv (.venv) or set MLIP_PYTHON",
        ),
        "nequip": ModelSpec(
            "nequip",
            "NequIP 0.19",
            os.path.join(venvs_dir, "nequip", "bin", "python"),
            os.path.join(PEERS_DIR, "worker_nequip.py"),
            f"{setup} nequip",
        ),
        "nequip-aoti": ModelSpec(
            "nequip-aoti",
            "NequIP 0.19 AOTInductor",
            os.path.join(venvs_dir, "nequip", "bin", "python"),
            os.path.join(PEERS_DIR, "worker_nequip_aoti.py"),
            f"{setup} nequip; bash benchmarks/peers/compile_nequip_aoti.sh",
        ),
        "mace": ModelSpec(
            "mace",
            "MACE-MP-small shape",
            os.path.join(venvs_dir, "mace", "bin", "python"),
            os.path.join(PEERS_DIR, "worker_mace.py"),
            f"{setup} mace",
        ),
    }


def parse_list(text: str, allowed: Tuple[str, ...], what: str) -> List[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise SystemExit(f"--{what}: unknown {unknown or 'empty list'}; choose from {', '.join(allowed)}")
    return items


def run_worker(spec: ModelSpec, system: str, dtype: str, args) -> dict:
    """Run one worker; return its JSON record, or a record with an ``error`` field."""
    command = [spec.python, spec.worker, "--system", system, "--dtype", dtype,
               "--repeats", str(args.repeats), "--warmups", str(args.warmups), *spec.extra_args]
    if args.core is not None:
        command = ["taskset", "-c", str(args.core)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    base = {"model": spec.name, "system": system, "dtype": dtype}
    try:
        proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {args.timeout} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {**base, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def combine_rounds(records: List[dict]) -> dict:
    """One row from several rounds: median rates (wall and CPU time), largest peak RSS,
    smallest cpu/wall. The per-round records are kept under ``rounds``."""
    cpu_rates = [r["n_atoms"] / statistics.median(r["cpu_times_s"]) for r in records]
    row = {key: value for key, value in records[-1].items() if key not in ("times_s", "cpu_times_s")}
    row["atom_steps_per_s"] = statistics.median(r["atom_steps_per_s"] for r in records)
    row["atom_steps_per_cpu_s"] = statistics.median(cpu_rates)
    row["peak_rss_gib"] = max(r["peak_rss_gib"] for r in records)
    row["cpu_over_wall"] = min(r["cpu_over_wall"] for r in records)
    row["rounds"] = records
    return row


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        memory = f", {kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def format_table(rows: List[dict], labels: Dict[str, str]) -> str:
    reference = {(r["system"], r["dtype"]): r["atom_steps_per_s"] for r in rows if r["model"] == REFERENCE_MODEL}
    header = ("| model | params | system | atoms | dtype | atom·steps/s | ratio vs NequIP "
              "| peak RSS (GiB) | cpu/wall | atom·steps/CPU-s |")
    lines = [header, "|---|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ref = reference.get((r["system"], r["dtype"]))
        ratio = f"{r['atom_steps_per_s'] / ref:.2f}" if ref else "n/a"
        finite = "" if r.get("finite", True) else " (NaN!)"
        lines.append(
            f"| {labels[r['model']]} | {r['n_params'] / 1e6:.2f}M | {r['system']} | {r['n_atoms']} | {r['dtype']} "
            f"| {r['atom_steps_per_s']:.1f}{finite} | {ratio} | {r['peak_rss_gib']:.2f} | {r['cpu_over_wall']:.2f} "
            f"| {r['atom_steps_per_cpu_s']:.1f} |"
        )
    return "\n".join(lines)


def write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def report(rows: List[dict], notes: List[str], labels: Dict[str, str], args, when: str) -> str:
    torch_versions = sorted({f"{labels[r['model']]}: torch {r['torch']}" for r in rows})
    versions = sorted({f"{labels[r['model']]} = {r['model']} {r['version']}" for r in rows})
    pinning = f"`taskset -c {args.core}`" if args.core is not None else "no core pinning"
    parts = [
        "# mlip vs peers: energy + forces on one CPU core",
        "",
        f"- date: {when}",
        f"- machine: {machine_description()}",
        f"- torch: {'; '.join(torch_versions) if torch_versions else 'n/a'}",
        f"- codes: {'; '.join(versions) if versions else 'n/a'}",
        f"- protocol: randomly initialised models, eager PyTorch, {pinning}, 1 torch thread; "
        f"energy + forces through each code's ASE calculator including the neighbour list; "
        f"median of {args.repeats} calls after {args.warmups} warm-up calls"
        + (f"; median over {args.rounds} interleaved rounds" if args.rounds > 1 else "")
        + "; peak RSS from getrusage in the worker.",
        "- shapes: mlip and NequIP l_max 2, 32 channels, 4 layers, 5 Å, elements H O Cu; "
        "MACE: MACE-MP-0 small (89 elements, 128x0e, max_ell 3, correlation 3, 2 layers, 6 Å).",
        "- cpu/wall < ~0.95 means other processes took the core during timing: trust the ratios "
        "of one run more than the absolute rates; atom·steps/CPU-s (from the process's CPU time) "
        "is less sensitive to that, though a busy neighbour core still slows memory-bound work.",
        f"- command: `{' '.join(['python3 benchmarks/bench_model_vs_peers.py'] + args.argv)}`",
        "",
        format_table(rows, labels) if rows else "(no results)",
        "",
    ]
    if notes:
        parts += ["Notes:", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(parts)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlip,nequip,mace", help="comma list of mlip, nequip, nequip-aoti, mace")
    parser.add_argument("--systems", default="cu500,water192", help=f"comma list of {', '.join(SYSTEMS)}")
    parser.add_argument("--dtypes", default="float32", help="comma list of float32, float64")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per worker (median)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed calls per worker first")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved passes over all workers")
    parser.add_argument("--core", default="0", help="CPU core for taskset; 'none' disables pinning")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker")
    parser.add_argument("--venvs-dir", default=DEFAULT_VENVS_DIR, help="where the peer venvs live")
    parser.add_argument("--output", default=os.path.join(RESULTS_DIR, "model_vs_peers.md"),
                        help="markdown report path ('' to write nothing)")
    args = parser.parse_args(argv)
    args.argv = argv

    specs = model_specs(args.venvs_dir)
    models = parse_list(args.models, tuple(specs), "models")
    systems = parse_list(args.systems, SYSTEMS, "systems")
    dtypes = parse_list(args.dtypes, ("float32", "float64"), "dtypes")
    args.core = None if args.core.lower() == "none" else args.core
    if args.core is not None and shutil.which("taskset") is None:
        print("[bench] taskset not found: running without core pinning", file=sys.stderr)
        args.core = None

    notes: List[str] = []
    available = []
    for name in models:
        spec = specs[name]
        if os.path.exists(spec.python):
            available.append(name)
        else:
            note = f"{spec.label}: skipped, no python at {spec.python} ({spec.how_to_get})"
            print(f"[bench] {note}", file=sys.stderr)
            notes.append(note)

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    records: Dict[Tuple[str, str, str], List[dict]] = {}
    failed = set()
    for round_index in range(args.rounds):
        for system in systems:
            for dtype in dtypes:
                for name in available:
                    key = (name, system, dtype)
                    if key in failed:
                        continue
                    print(f"[bench] round {round_index + 1}/{args.rounds}: {name} {system} {dtype} ...",
                          file=sys.stderr, flush=True)
                    record = run_worker(specs[name], system, dtype, args)
                    if "error" in record:
                        failed.add(key)
                        note = (f"{specs[name].label} {system} {dtype}: failed in round {round_index + 1} "
                                f"(not run again): {record['error']}")
                        print(f"[bench] {note}", file=sys.stderr)
                        notes.append(note)
                        continue
                    print(f"[bench]   {record['atom_steps_per_s']:.1f} atom·steps/s, "
                          f"peak RSS {record['peak_rss_gib']:.2f} GiB, cpu/wall {record['cpu_over_wall']:.2f}",
                          file=sys.stderr, flush=True)
                    records.setdefault(key, []).append(record)

    order = {name: i for i, name in enumerate(specs)}
    rows = [combine_rounds(records[key]) for key in
            sorted(records, key=lambda k: (systems.index(k[1]), dtypes.index(k[2]), order[k[0]]))]
    labels = {name: spec.label for name, spec in specs.items()}
    text = report(rows, notes, labels, args, when)
    print(text)
    if args.output and rows:
        write_atomically(args.output, text)
        write_atomically(os.path.splitext(args.output)[0] + ".json",
                         json.dumps({"date": when, "machine": machine_description(), "rows": rows,
                                     "notes": notes}, indent=1) + "\n")
        print(f"[bench] wrote {os.path.abspath(args.output)}", file=sys.stderr)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
