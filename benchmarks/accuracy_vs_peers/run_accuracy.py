"""Accuracy side by side: mlip, NequIP and MACE trained on the same split, same budget.

Run from the repository root with mlip's python (needs numpy + ase; every code runs in its own
subprocess with its own venv, one after the other, OMP/MKL threads = 1)::

    .venv/bin/python benchmarks/accuracy_vs_peers/run_accuracy.py all --budget-s 900
    .venv/bin/python benchmarks/accuracy_vs_peers/run_accuracy.py all --budget-s 60 --work /tmp/acc_peers/smoke --no-report

Steps (each also runnable alone): ``split`` (seeded 80/10/10 split into <work>/data),
``train CODE`` (CODE in mlip, nequip, mace), ``eval CODE`` (its ASE calculator on the test
file -> <work>/preds/CODE.npz), ``report`` (metrics.py on all predictions -> results/).
See README.md for what every configuration setting means.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import metrics  # noqa: E402
import split_data  # noqa: E402
import train_mace  # noqa: E402

CODES = ("mlip", "nequip", "mace")
PY = {
    "mlip": os.environ.get("MLIP_PYTHON", str(REPO / ".venv/bin/python")),
    "nequip": os.environ.get("NEQUIP_PYTHON", "/tmp/peers/nequip/bin/python"),
    "mace": os.environ.get("MACE_PYTHON", "/tmp/peers/mace/bin/python"),
}
DATASET = REPO / "benchmarks/datasets/cu_emt.extxyz"
KEYS = {"energy": "emt_energy", "forces": "emt_forces", "stress": "emt_stress"}
SPLIT_SEED = 0
# mlip's loss weights (dimensionless, each term divided by its training-set RMS squared)
MLIP_WEIGHTS = {"energy": 1.0, "forces": 10.0, "stress": 1.0}


def child_env() -> dict:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[k] = "1"
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["WANDB_MODE"] = "disabled"
    return env


def peer_coefficients(scales: dict) -> dict:
    """Raw MSE coefficients (per-atom energy eV², force eV²/Å², stress eV²/Å⁶ terms) that give
    the same objective as mlip's normalised loss, up to one overall factor (energy coeff = 1)."""
    raw = {
        "energy": MLIP_WEIGHTS["energy"] / scales["energy_per_atom_rms_eV"] ** 2,
        "forces": MLIP_WEIGHTS["forces"] / scales["force_rms_eV_per_A"] ** 2,
        "stress": MLIP_WEIGHTS["stress"] / scales["stress_rms_eV_per_A3"] ** 2,
    }
    return {k: round(v / raw["energy"], 6) for k, v in raw.items()}


def do_split(work: Path) -> dict:
    info = split_data.write_split(str(DATASET), work / "data", SPLIT_SEED, KEYS)
    info["dataset"] = str(DATASET.relative_to(REPO))
    info["peer_loss_coefficients"] = peer_coefficients(info["train_scales"])
    (work / "split.json").write_text(json.dumps(info, indent=1))
    return info


def fill(template: str, subs: dict) -> str:
    for k, v in subs.items():
        template = template.replace(f"@{k}@", str(v))
    left = re.findall(r"@[A-Z_]+@", template)
    if left:
        raise ValueError(f"unfilled placeholders {left}")
    return template


def substitutions(work: Path, budget_s: float) -> dict:
    split = json.loads((work / "split.json").read_text())
    c = split["peer_loss_coefficients"]
    b = int(budget_s)
    return {"WORK": str(work), "BUDGET_S": b, "MAX_TIME": f"00:{b // 3600:02d}:{b % 3600 // 60:02d}:{b % 60:02d}",
            "C_E": c["energy"], "C_F": c["forces"], "C_S": c["stress"]}


def children_cpu_s() -> float:
    """User + system CPU seconds of all finished child processes so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_logged(cmd, log: Path, cwd=None) -> dict:
    t0, c0 = time.time(), children_cpu_s()
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"\n# {' '.join(map(str, cmd))}\n")
        f.flush()
        rc = subprocess.call([str(x) for x in cmd], stdout=f, stderr=subprocess.STDOUT, env=child_env(), cwd=cwd)
    return {"rc": rc, "wall_s": round(time.time() - t0, 1), "cpu_s": round(children_cpu_s() - c0, 1)}


def do_train(code: str, work: Path, budget_s: float) -> dict:
    subs = substitutions(work, budget_s)
    cfg_dir = work / "configs"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    log = work / "logs" / f"train_{code}.log"
    run_dir = work / "runs" / code
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: remove it (or use another --work) to train {code} afresh")
    if code == "mlip":
        cfg = cfg_dir / "mlip.yaml"
        cfg.write_text(fill((HERE / "configs/mlip.yaml").read_text(), subs))
        summary = run_logged([PY["mlip"], "-m", "mlip.cli", "train", cfg], log, cwd=REPO)
        rows = (run_dir / "metrics.csv").read_text().strip().splitlines()[1:]
        summary["epochs"] = len(rows)
        summary["training_s"] = float(rows[-1].split(",")[_col(run_dir / "metrics.csv", "elapsed_s")]) if rows else None
        vl = [float(r.split(",")[_col(run_dir / "metrics.csv", "valid_loss")]) for r in rows]
        summary["best_after_epochs"] = int(rows[vl.index(min(vl))].split(",")[0]) if rows else None
        summary["model"] = str(run_dir / "best.pt")
    elif code == "nequip":
        cfg = cfg_dir / "nequip.yaml"
        cfg.write_text(fill((HERE / "configs/nequip.yaml").read_text(), subs))
        exe = Path(PY["nequip"]).parent / "nequip-train"
        summary = run_logged([exe, "-cp", cfg_dir, "-cn", "nequip.yaml", f"hydra.run.dir={run_dir}"], log, cwd=work)
        summary.update(_nequip_epochs(run_dir))
        summary["model"] = str(run_dir / "best.ckpt")
    else:
        args = json.loads(fill((HERE / "configs/mace_args.json").read_text(), subs))
        (cfg_dir / "mace_args.json").write_text(json.dumps(args, indent=1))
        exe = str(Path(PY["mace"]).parent / "mace_run_train")
        summary = train_mace.train_mace(exe, args, child_env(), log, budget_s)
        summary["epochs"] = summary["epochs_validated"]
        summary["training_s"] = summary["train"]["training_s"]
        summary["cpu_s"] = summary["train"]["cpu_s"]
        summary["best_after_epochs"] = summary["best_epoch"] + 1  # MACE's checkpoint N follows training epoch N (from 0)
    summary.update(code=code, budget_s=budget_s, log=str(log))
    if not Path(summary["model"]).exists():
        raise RuntimeError(f"{code}: no trained model at {summary['model']}; see {log}")
    (run_dir / "bench_run.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


def _col(csv_path: Path, name: str) -> int:
    return csv_path.read_text().splitlines()[0].split(",").index(name)


def _nequip_epochs(run_dir: Path) -> dict:
    """Epochs validated and the best epoch, from Lightning's CSV log."""
    import csv

    files = sorted(run_dir.glob("lightning_logs/version_*/metrics.csv"))
    if not files:
        return {"epochs": None}
    best, best_epoch, epochs = float("inf"), None, set()
    with open(files[-1], newline="") as f:
        for row in csv.DictReader(f):
            v = row.get("val0_epoch/weighted_sum", "")
            if v:
                epochs.add(int(row["epoch"]))
                if float(v) < best:
                    best, best_epoch = float(v), int(row["epoch"])
    # Lightning counts epochs from 0; a run stopped by max_time validates its partial last epoch
    return {"epochs": len(epochs), "best_after_epochs": None if best_epoch is None else best_epoch + 1}


def do_eval(code: str, work: Path) -> dict:
    run = json.loads((work / "runs" / code / "bench_run.json").read_text())
    (work / "preds").mkdir(exist_ok=True)
    out = work / "preds" / f"{code}.npz"
    log = work / "logs" / f"eval_{code}.log"
    r = run_logged([PY[code], HERE / "eval_worker.py", "--code", code, "--model", run["model"],
                    "--test", work / "data/test.extxyz", "--out", out], log, cwd=work)
    if r["rc"] != 0:
        raise RuntimeError(f"evaluation of {code} failed; see {log}")
    return r


def do_report(work: Path, out_stem: Path) -> dict:
    import numpy as np

    split = json.loads((work / "split.json").read_text())
    ref = metrics.reference_labels(str(work / "data/test.extxyz"))
    rows = {}
    for code in CODES:
        p = work / "preds" / f"{code}.npz"
        if not p.exists():
            continue
        d = np.load(p)
        pred = {k: d[k] for k in ("energy_eV", "forces_eV_per_A", "stress_eV_per_A3", "n_atoms")}
        run = json.loads((work / "runs" / code / "bench_run.json").read_text())
        cfg = work / "configs" / {"mlip": "mlip.yaml", "nequip": "nequip.yaml", "mace": "mace_args.json"}[code]
        rows[code] = {"meta": json.loads(str(d["meta"])), "run": run, "errors": metrics.test_errors(pred, ref),
                      "config_used": cfg.read_text()}
    import curves

    result = {"dataset": split["dataset"], "split": split, "results": rows, "machine": machine_note(),
              "validation_curves": curves.learning_curves(work)}
    import report_md

    out_stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(result, indent=1)), (".md", report_md.render(result))):
        tmp = out_stem.with_suffix(suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(out_stem.with_suffix(suffix))
    return result


def machine_note() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "note": "2 cores shared with a niced background dataset job and other sessions' jobs (load average "
                    "3-6 during the runs); each trainer ran alone of the three, one thread. The budgets are equal "
                    "wall-clock budgets on a busy machine, not equal CPU: see the CPU seconds per process"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["split", "train", "eval", "report", "all"])
    ap.add_argument("codes", nargs="*", default=list(CODES))
    ap.add_argument("--work", default="/tmp/acc_peers/full")
    ap.add_argument("--budget-s", type=float, default=900.0)
    ap.add_argument("--out", default=str(HERE / "results/accuracy_cu_emt"))
    ap.add_argument("--no-report", action="store_true")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if a.step in ("split", "all"):
        print(json.dumps({k: v for k, v in do_split(work).items() if k != "indices"}))
    for code in a.codes:
        if a.step in ("train", "all"):
            do_train(code, work, a.budget_s)
        if a.step in ("eval", "all"):
            print(code, do_eval(code, work))
    if a.step == "report" or (a.step == "all" and not a.no_report):
        res = do_report(work, Path(a.out))
        for code, r in res["results"].items():
            print(code, json.dumps(r["errors"]))


if __name__ == "__main__":
    main()
