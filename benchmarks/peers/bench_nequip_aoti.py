"""mlip against NequIP 0.19 eager and NequIP 0.19 compiled with AOTInductor, one CPU core.

The "stronger CPU anchor" of issue 16: the same NequIP shape as the peer benchmark, compiled by
``nequip-compile --mode aotinductor --device cpu --target ase`` (compile_nequip_aoti.sh) and run
through ``NequIPCalculator.from_compiled_model``, next to NequIP eager (worker_nequip.py) and
mlip with its native ops (worker_mlip.py). Energy + forces (+ stress, all three codes compute it
for periodic cells) per call through each code's ASE calculator, neighbour list included.

Each (model, system, dtype) runs in a fresh subprocess (``taskset -c CORE``, one torch thread,
OMP_NUM_THREADS=1) via bench_model_vs_peers.run_worker; ``--rounds`` interleaves the models.
Per round the rate is atoms / median call time, from CPU time (time.process_time of the worker)
and from wall time; the table gives the median over rounds and the min–max spread, and the
ratio mlip / AOTInductor per round (median, min–max).

Usage (repository root; standard library only)::

    bash benchmarks/peers/compile_nequip_aoti.sh           # once, ~5 CPU-min
    python3 benchmarks/peers/bench_nequip_aoti.py --systems cu108,cu2048 --rounds 3

Writes benchmarks/results/nequip_aotinductor.md and .json (raw per-call times), after every
round. ``--render a.json,b.json`` runs nothing and rewrites the report from earlier runs,
pooling their rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import statistics
import sys
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import bench_model_vs_peers as peers  # noqa: E402

MODELS = ("nequip", "nequip-aoti", "mlip", "mlip-r1x128")
DEFAULT_MODELS = "nequip,nequip-aoti,mlip,mlip-r1x128"
LABELS = {"nequip": "NequIP eager", "nequip-aoti": "NequIP AOTInductor", "mlip": "mlip",
          "mlip-r1x128": "mlip, radial MLP 1x128"}
# (numerator, denominator, key) of the per-round speed ratios in the table
RATIOS = (("nequip-aoti", "nequip", "aoti_over_eager"), ("mlip", "nequip-aoti", "mlip_over_aoti"),
          ("mlip-r1x128", "nequip-aoti", "mlip_r1x128_over_aoti"))
RATIO_LABELS = {"aoti_over_eager": "AOTI / eager", "mlip_over_aoti": "**mlip / AOTI**",
                "mlip_r1x128_over_aoti": "**mlip 1x128 / AOTI**"}
# mlip with NequIP's radial MLP (1 hidden layer of 128) instead of its default 2 x 64
MLIP_R1X128_CONFIG = {"radial_hidden": 128, "radial_layers": 1}


def specs_with_variants(venvs_dir: str) -> Dict[str, "peers.ModelSpec"]:
    """bench_model_vs_peers' model specs plus mlip with NequIP's radial MLP width/depth."""
    specs = peers.model_specs(venvs_dir)
    specs["mlip-r1x128"] = dataclasses.replace(
        specs["mlip"], name="mlip-r1x128", label=LABELS["mlip-r1x128"],
        extra_args=("--config-json", json.dumps(MLIP_R1X128_CONFIG)))
    return specs
RESULTS_PATH = os.path.join(peers.RESULTS_DIR, "nequip_aotinductor.md")
TARGET_RATIO = 3.0


def rates(record: dict) -> Tuple[float, float]:
    """(atom·steps per CPU-s, atom·steps per wall-s) of one worker record (median call)."""
    n = record["n_atoms"]
    return n / statistics.median(record["cpu_times_s"]), n / statistics.median(record["times_s"])


def spread(values: List[float], digits: int = 0) -> str:
    """'median (min–max)' of ``values``."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(statistics.median(values))} ({f.format(min(values))}–{f.format(max(values))})"


def summarise(records: Dict[Tuple[str, str, str], List[dict]], system: str, dtype: str) -> Optional[dict]:
    """One table row: per-model rates over rounds and the per-round ratios."""
    per_model = {m: records.get((m, system, dtype), []) for m in MODELS}
    if not any(per_model.values()):
        return None
    row = {"system": system, "dtype": dtype, "models": {}}
    for model, recs in per_model.items():
        if recs:
            row["n_atoms"] = recs[0]["n_atoms"]
            row["models"][model] = {
                "cpu_rates": [rates(r)[0] for r in recs],
                "wall_rates": [rates(r)[1] for r in recs],
                "cpu_over_wall": [r["cpu_over_wall"] for r in recs],
                "peak_rss_gib": max(r["peak_rss_gib"] for r in recs),
                "energy_eV": recs[-1]["energy_eV"],
            }
    for num, den, key in RATIOS:
        a, b = row["models"].get(num), row["models"].get(den)
        if a and b:
            k = min(len(a["cpu_rates"]), len(b["cpu_rates"]))
            row[key + "_cpu"] = [a["cpu_rates"][i] / b["cpu_rates"][i] for i in range(k)]
            row[key + "_wall"] = [a["wall_rates"][i] / b["wall_rates"][i] for i in range(k)]
    eager, aoti = row["models"].get("nequip"), row["models"].get("nequip-aoti")
    if eager and aoti:
        difference_eV = abs(aoti["energy_eV"] - eager["energy_eV"])
        row["aoti_vs_eager_energy_rel"] = difference_eV / max(abs(eager["energy_eV"]), 1e-30)
    return row


def format_rows(rows: List[dict], models: List[str]) -> str:
    """The markdown table: rates per model, then the per-round ratios, CPU-time block first."""
    ratios = [key for num, den, key in RATIOS if num in models and den in models]
    header = ["system", "atoms", "dtype"] + [LABELS[m] for m in models] + [RATIO_LABELS[k] for k in ratios]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---|" + "---:|" * (len(header) - 3)]
    for kind, label in (("cpu", "atom·steps per CPU-s"), ("wall", "atom·steps per wall-s")):
        lines.append(f"| *{label}* |" + " |" * (len(header) - 1))
        for r in rows:
            cells = [r["system"], str(r["n_atoms"]), r["dtype"]]
            cells += [spread(r["models"][m][kind + "_rates"]) if m in r["models"] else "n/a" for m in models]
            for key in ratios:
                text = spread(r[f"{key}_{kind}"], 2) if f"{key}_{kind}" in r else "n/a"
                cells.append(f"**{text}**" if RATIO_LABELS[key].startswith("**") else text)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="cu108,cu2048", help="comma list of benchmark systems")
    parser.add_argument("--dtypes", default="float32", help="comma list of float32, float64")
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per worker (median)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed calls per worker first")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes over all models")
    parser.add_argument("--core", default="0", help="CPU core for taskset; 'none' disables pinning")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per worker")
    parser.add_argument("--venvs-dir", default=peers.DEFAULT_VENVS_DIR, help="where the peer venvs live")
    parser.add_argument("--output", default=RESULTS_PATH, help="markdown path ('' to write nothing)")
    parser.add_argument("--render", default="",
                        help="run nothing: rewrite --output from the JSON of earlier runs (comma list: their "
                             "rounds are pooled; settings from the first)")
    args = parser.parse_args(argv)
    args.core = None if args.core.lower() == "none" else args.core
    args.models = peers.parse_list(args.models, MODELS, "models")
    args.systems = peers.parse_list(args.systems, peers.SYSTEMS, "systems")
    args.dtypes = peers.parse_list(args.dtypes, ("float32", "float64"), "dtypes")
    return args


def run_all(args, after_round=None) -> Tuple[Dict[Tuple[str, str, str], List[dict]], List[str]]:
    """Every (round, system, dtype, model) worker; the records per key in round order, failures.

    ``after_round(records, failures)`` is called after each round (to save partial results).
    """
    specs = specs_with_variants(args.venvs_dir)
    records: Dict[Tuple[str, str, str], List[dict]] = {}
    failures: List[str] = []
    for round_index in range(args.rounds):
        for system in args.systems:
            for dtype in args.dtypes:
                for model in args.models:
                    print(f"[aoti] round {round_index + 1}/{args.rounds}: {model} {system} {dtype}",
                          file=sys.stderr, flush=True)
                    record = peers.run_worker(specs[model], system, dtype, args)
                    record["model"] = model  # the worker names itself "mlip" for both mlip variants
                    if "error" in record:
                        failures.append(f"{model} {system} {dtype} round {round_index + 1}: {record['error']}")
                        print(f"[aoti]   failed: {record['error']}", file=sys.stderr, flush=True)
                        continue
                    cpu_rate, wall_rate = rates(record)
                    print(f"[aoti]   {cpu_rate:.1f} atom·steps/CPU-s, {wall_rate:.1f} /wall-s, "
                          f"cpu/wall {record['cpu_over_wall']:.2f}", file=sys.stderr, flush=True)
                    records.setdefault((model, system, dtype), []).append(record)
        if after_round is not None:
            after_round(records, failures)
    return records, failures


def render(records, failures: List[str], args, argv: List[str], when: str) -> Tuple[str, List[dict]]:
    """The markdown report and its table rows."""
    models = args.models
    rows = [r for r in (summarise(records, s, d) for s in args.systems for d in args.dtypes) if r]
    params = {m: recs[0]["n_params"] for (m, _, _), recs in records.items()}
    notes = ["parameters: " + ", ".join(f"{LABELS[m]} {params[m] / 1e6:.2f}M" for m in models if m in params)]
    agreement = [f"{r['system']} {r['dtype']} {r['aoti_vs_eager_energy_rel']:.1e}" for r in rows
                 if "aoti_vs_eager_energy_rel" in r]
    if agreement:
        notes.append("same model check, |E(AOTI) − E(eager)| / |E(eager)|: " + ", ".join(agreement))
    notes.append("peak RSS (GiB, largest over rounds): " + "; ".join(
        f"{r['system']} {r['dtype']}: " + ", ".join(f"{LABELS[m]} {r['models'][m]['peak_rss_gib']:.2f}"
                                                    for m in models if m in r["models"]) for r in rows))
    if any(part.startswith("(pooled") for part in argv):
        notes.append("rounds pooled from several runs (see command): each run interleaves its own models; "
                     "runs on different cores may have overlapped in time")
    notes += failures
    pinning = f"`taskset -c {args.core}`" if args.core is not None else "no core pinning"
    text = "\n".join([
        "# mlip vs NequIP 0.19 eager vs NequIP 0.19 AOTInductor: energy + forces, one CPU core",
        "",
        f"- date: {when}; machine: {peers.machine_description()}",
        "- NequIP AOTInductor: `nequip-compile CKPT nequip_<dtype>.nequip.pt2 --mode aotinductor "
        "--device cpu --target ase` (benchmarks/peers/compile_nequip_aoti.sh), loaded with "
        "`NequIPCalculator.from_compiled_model`; same weights as NequIP eager (seed 0).",
        "- shapes: NequIP l_max 2, 32 features, 4 layers, parity, radial MLP 1x128, 8 Bessels, 5 Å, "
        "H/O/Cu; mlip the same l_max / channels / layers / cutoff / elements with its native ops "
        "and ModelConfig defaults otherwise (radial MLP 2x64); 'mlip, radial MLP 1x128' uses "
        "NequIP's radial MLP width and depth instead.",
        f"- protocol: {pinning}, OMP_NUM_THREADS=1, 1 torch thread; per worker {args.warmups} warm-up "
        f"+ {args.repeats} timed calls (calc.reset(), get_forces(), get_potential_energy(); "
        f"neighbour list included); rate = atoms / median call time; {args.rounds} interleaved rounds, "
        "each in a fresh process; cells give median (min–max) over rounds, ratios are per round.",
        "- CPU time (time.process_time of the worker) is the figure to trust on this shared machine; "
        "wall time is skewed by other processes on the core.",
        "- command: `" + " ".join(["python3 benchmarks/peers/bench_nequip_aoti.py"] + argv) + "`",
        "",
        format_rows(rows, models) if rows else "(no results)",
        "",
        f"Target (issue 16): mlip / AOTI ≥ {TARGET_RATIO:g}.",
        "",
        "Notes:",
        "",
    ] + [f"- {n}" for n in notes] + [""])
    return text, rows


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.render:
        output, records, failures, runs = args.output, {}, [], []
        for path in args.render.split(","):
            with open(path) as f:
                runs.append(json.load(f))
            for record in runs[-1]["records"]:
                records.setdefault((record["model"], record["system"], record["dtype"]), []).append(record)
            failures += runs[-1].get("failures", [])
        argv, when = runs[0]["argv"], ", ".join(run["date"] for run in runs)
        args = parse_args(argv)
        args.output, args.rounds = output, max(len(recs) for recs in records.values())
        for field, index in (("models", 0), ("systems", 1), ("dtypes", 2)):  # all that the runs hold
            found = [key[index] for key in records]
            known = list(peers.SYSTEMS) if field == "systems" else getattr(args, field)
            setattr(args, field, sorted(set(found), key=lambda v, o=known: (
                o.index(v) if v in o else len(o), found.index(v))))
        if len(runs) > 1:
            argv = argv + [f"(pooled with {len(runs) - 1} more run(s):"] + [
                " ".join(run["argv"]) + ")" for run in runs[1:]]
    else:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        records, failures = run_all(args, lambda r, f: save(r, f, args, argv, when))
    return 0 if save(records, failures, args, argv, when, echo=True) else 1


def save(records, failures: List[str], args, argv: List[str], when: str, echo: bool = False) -> bool:
    """Write the report and the JSON (atomically) if there is anything to write; True if there was."""
    text, rows = render(records, failures, args, argv, when)
    if echo:
        print(text)
    if args.output and rows:
        peers.write_atomically(args.output, text)
        peers.write_atomically(os.path.splitext(args.output)[0] + ".json", json.dumps(
            {"date": when, "machine": peers.machine_description(), "argv": argv, "rows": rows,
             "records": [r for recs in records.values() for r in recs], "failures": failures}, indent=1) + "\n")
        print(f"[aoti] wrote {os.path.abspath(args.output)}", file=sys.stderr)
    return bool(rows)


if __name__ == "__main__":
    sys.exit(main())
