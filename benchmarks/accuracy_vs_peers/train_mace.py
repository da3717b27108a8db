"""Run ``mace_run_train`` under a wall-clock training budget (standard library only).

MACE 0.3.16 has no time-limit option. This runner starts it, copies its output to a log,
and stops it (SIGTERM to its process group, SIGKILL 20 s later) ``budget_s`` seconds after
MACE logs "Started training" (i.e. after data loading, E0s, statistics and model set-up, which
the other codes do outside their budgets too). MACE validates every epoch (``eval_interval 1``)
and checkpoints the EMA weights whenever the validation loss improves, so the newest
checkpoint is the best one. A second ``mace_run_train`` call with the same arguments plus
``--restart_latest --max_num_epochs <that epoch>`` loads it, trains no further, and writes
``<work_dir>/<name>.model``, which is what gets evaluated.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List


def mace_argv(exe: str, args: Dict[str, object]) -> List[str]:
    argv = [exe]
    for key, value in args.items():
        if key.startswith("_"):
            continue
        if value is True:
            argv.append(f"--{key}")
        else:
            argv += [f"--{key}", str(value)]
    return argv


def _stream(proc: subprocess.Popen, log, marker: threading.Event, started: List[float]) -> None:
    for line in iter(proc.stdout.readline, ""):
        log.write(line)
        log.flush()
        if not marker.is_set() and "Started training" in line:
            started.append(time.time())
            marker.set()


def _children_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run_logged(argv: List[str], env: Dict[str, str], log_path: Path, budget_s: float = None) -> Dict:
    t0, c0 = time.time(), _children_cpu_s()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n# {' '.join(argv)}\n")
        log.flush()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        marker, started = threading.Event(), []
        reader = threading.Thread(target=_stream, args=(proc, log, marker, started), daemon=True)
        reader.start()
        stopped_by_budget = False
        while proc.poll() is None:
            if budget_s is not None and started and time.time() - started[0] >= budget_s:
                os.killpg(proc.pid, signal.SIGTERM)
                stopped_by_budget = True
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(1.0)
        proc.wait()
        reader.join(timeout=5)
    t1 = time.time()
    return {"rc": proc.returncode, "wall_s": round(t1 - t0, 1), "cpu_s": round(_children_cpu_s() - c0, 1),
            "training_s": round(t1 - started[0], 1) if started else None, "stopped_by_budget": stopped_by_budget}


def latest_checkpoint_epoch(work_dir: Path, name: str, seed: str) -> int:
    ckpts = sorted((work_dir / "checkpoints").glob(f"{name}_run-{seed}_epoch-*.pt"))
    epochs = [int(re.search(r"epoch-(\d+)\.pt$", str(p)).group(1)) for p in ckpts]
    if not epochs:
        raise RuntimeError(f"no MACE checkpoint in {work_dir}/checkpoints: the run stopped before its first validation")
    return max(epochs)


def epochs_trained(log_path: Path) -> int:
    """Training epochs completed: MACE trains epoch N, then validates and logs "Epoch N: ..."
    (N from 0), so the count is the highest N + 1."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    found = [int(m) for m in re.findall(r"Epoch (\d+):", text)]
    return max(found) + 1 if found else 0


def train_mace(exe: str, args: Dict[str, object], env: Dict[str, str], log_path: Path, budget_s: float) -> Dict:
    """Train under ``budget_s``, then write the .model of the best checkpoint; returns a summary."""
    work_dir = Path(str(args["work_dir"]))
    run = _run_logged(mace_argv(exe, args), env, log_path, budget_s)
    best_epoch = latest_checkpoint_epoch(work_dir, str(args["name"]), str(args["seed"]))
    n_epochs = epochs_trained(log_path)
    final_args = dict(args, restart_latest=True, max_num_epochs=str(best_epoch))
    final = _run_logged(mace_argv(exe, final_args), env, log_path)
    model = work_dir / f"{args['name']}.model"
    if final["rc"] != 0 or not model.exists():
        raise RuntimeError(f"MACE finalisation failed (rc {final['rc']}); see {log_path}")
    return {"train": run, "finalise": final, "best_epoch": best_epoch, "epochs_validated": n_epochs,
            "model": str(model)}
