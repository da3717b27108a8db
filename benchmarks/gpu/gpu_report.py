"""Collect the pieces written by run_on_gpu.sh into one JSON file and one markdown table.

    python3 benchmarks/gpu/gpu_report.py WORK OUT
        reads WORK/{env,stages,ef,nl}.json, WORK/md/drift.json, OUT/tests.log, OUT/md.log;
        writes OUT/results.json and OUT/results.md
Standard library only, so it runs even when torch or the build failed.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Dict, List


def _load(path: str, default: Any) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def _tail(path: str, pattern: str) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if re.search(pattern, line)]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _rate(value) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ms(value) -> str:
    return "—" if value is None else f"{1e3 * value:.3g}"


def _num(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _spread(r: dict) -> str:
    times = r.get("times_s") or []
    if len(times) < 2 or not r.get("median_s"):
        return "—"
    return f"{100 * (max(times) - min(times)) / r['median_s']:.0f} % of {len(times)}"


def ef_table(ef: List[dict]) -> List[str]:
    rows = [r for r in ef if r.get("kind") in ("ef", "ef-size")]
    out = ["| model | system | atoms | dtype | E+F ms (median) | spread (max-min) | atom·steps/s | model-only ms | "
           "peak GPU GiB | note |", "|---|---|---:|---|---:|---|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r.get('model')} | {r.get('system')} | {r.get('n_atoms', '')} | {r.get('dtype')} | "
                   f"{_ms(r.get('median_s'))} | {_spread(r)} | {_rate(r.get('atom_steps_per_s'))} | "
                   f"{_ms(r.get('model_only_median_s'))} | {_num(r.get('peak_gpu_gib'), '.2f')} | {r.get('error', '')} |")
    return out


def largest_table(ef: List[dict]) -> List[str]:
    out = ["| model | dtype | largest Cu cell that ran (atoms) | first out of memory (atoms) | limited by | s per E+F | peak GPU GiB |",
           "|---|---|---:|---:|---|---:|---:|"]
    for r in ef:
        if r.get("kind") != "largest":
            continue
        out.append(f"| {r.get('model')} | {r.get('dtype')} | {r.get('largest_ok_atoms') or '—'} | "
                   f"{r.get('first_oom_atoms') or '—'} | {r.get('limited_by', r.get('error', ''))} | "
                   f"{_num(r.get('median_s'), '.3g')} | {_num(r.get('peak_gpu_gib'), '.1f')} |")
    return out


def nl_table(nl: List[dict]) -> List[str]:
    by_size: Dict[int, Dict[str, dict]] = {}
    for r in nl:
        by_size.setdefault(r.get("n_atoms", 0), {})[r.get("code", "?")] = r
    out = ["| atoms | mlip ms | vesin ms | mlip pairs | same pair count | note |", "|---:|---:|---:|---:|---|---|"]
    for n in sorted(by_size):
        m, v = by_size[n].get("mlip", {}), by_size[n].get("vesin", {})
        note = "; ".join(x for x in (m.get("error", ""), v.get("error", ""), by_size[n].get("?", {}).get("error", "")) if x)
        out.append(f"| {n} | {_ms(m.get('median_s'))} | {_ms(v.get('median_s'))} | {m.get('n_pairs', '—')} | "
                   f"{v.get('same_pair_count', '—')} | {note} |")
    return out


def main(work: str, folder: str) -> int:
    env = _load(os.path.join(work, "env.json"), {})
    stages = _load(os.path.join(work, "stages.json"), [])
    ef = _load(os.path.join(work, "ef.json"), [])
    nl = _load(os.path.join(work, "nl.json"), [])
    drift = _load(os.path.join(work, "md", "drift.json"), None)
    tests = _tail(os.path.join(folder, "tests.log"), r"\d+ (passed|failed)|no tests ran|error")
    md_line = _tail(os.path.join(folder, "md.log"), r"^md: \d+ steps")
    results = {"env": env, "stages": stages, "tests_summary": tests, "ef": ef, "nl": nl, "md": {"summary": md_line,
               "drift": drift}}
    tmp = os.path.join(folder, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, os.path.join(folder, "results.json"))

    lines = [f"# GPU run: {env.get('gpu', 'no GPU')} ({'dry run on the CPU' if env.get('dry_run') else 'real run'})", "",
             f"torch {env.get('torch', '?')}, CUDA {env.get('torch_cuda', '?')}, nvcc {env.get('nvcc', '?')}, "
             f"op library: {env.get('build_info', '?')}; started {env.get('started_utc', '?')}", "",
             "## Stages", "", "| stage | status | seconds |", "|---|---|---:|"]
    lines += [f"| {s.get('stage')} | {s.get('status')} | {s.get('seconds', 0):.0f} |" for s in stages]
    lines += ["", "## Tests (tests/gpu and the device cases of tests/ops)", "", f"`{tests or 'not run'}`", "",
              "## Energy + forces (each call: device neighbour list + E + F; peers through their ASE calculators)", ""]
    lines += ef_table(ef) + ["", "## Largest Cu cell that fits", ""] + largest_table(ef)
    lines += ["", "## Neighbour list, fcc Cu, 5 Å, positions on the device", ""] + nl_table(nl)
    lines += ["", "## NVE run (`mlip md`, shipped potential cuau-emt, fcc Cu, 2 fs; 1,000 steps of 4,000 atoms on the GPU)", "",
              f"`{md_line or 'not run'}`", ""]
    if drift:
        keys = ("verdict", "n_atoms", "duration_ps", "timestep_fs", "drift_meV_per_atom_per_ps", "rms_meV_per_atom",
                "shadow_drift_meV_per_atom_per_ps", "diagnosis")
        lines += [f"- {k}: {drift.get(k)}" for k in keys if k in drift]
    tmp = os.path.join(folder, "results.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(folder, "results.md"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gpu_report.py WORK OUT")
    sys.exit(main(sys.argv[1], sys.argv[2]))
