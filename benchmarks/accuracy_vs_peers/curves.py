"""Validation force error after each training epoch, read from each code's own training log
(same validation file for all three; EMA weights in all three). Each code logs a different
statistic: mlip MAE and RMSE, NequIP RMSE (sqrt of its forces_mse validation metric), MACE MAE
(its PerAtomMAEstressvirials log). Units meV/Å. A NequIP run stopped by max_time validates its
partial last epoch; MACE loses its interrupted epoch."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Dict, List


def learning_curves(work: Path) -> Dict[str, List[dict]]:
    out: Dict[str, List[dict]] = {}
    p = work / "runs/mlip/metrics.csv"
    if p.exists():
        out["mlip"] = [{"after_epochs": int(r["epoch"]), "elapsed_s": float(r["elapsed_s"]),
                        "valid_forces_mae_meV_per_A": float(r["valid_forces_mae_meV/A"]),
                        "valid_forces_rmse_meV_per_A": float(r["valid_forces_rmse_meV/A"])}
                       for r in csv.DictReader(open(p, newline=""))]
    files = sorted(work.glob("runs/nequip/lightning_logs/version_*/metrics.csv"))
    if files:
        rows = [r for r in csv.DictReader(open(files[-1], newline="")) if r.get("val0_epoch/forces_mse")]
        out["nequip"] = [{"after_epochs": int(r["epoch"]) + 1,
                          "valid_forces_rmse_meV_per_A": float(r["val0_epoch/forces_mse"]) ** 0.5 * 1e3} for r in rows]
    p = work / "logs/train_mace.log"
    if p.exists():
        found = re.findall(r"Epoch (\d+):.*?MAE_F=\s*([\d.]+)", p.read_text(errors="replace"))
        seen = {}
        for epoch, mae in found:  # the finalisation run repeats no "Epoch N" line, but be safe
            seen[int(epoch) + 1] = float(mae)
        out["mace"] = [{"after_epochs": k, "valid_forces_mae_meV_per_A": v} for k, v in sorted(seen.items())]
    return out


def render(curves: Dict[str, List[dict]], epochs=(1, 2, 4, 8, 12, 17, 25, 34)) -> List[str]:
    def at(code, k, key):
        for r in curves.get(code, []):
            if r["after_epochs"] == k and key in r:
                return f"{r[key]:.1f}"
        return ""

    lines = ["| after epochs | mlip F MAE | MACE F MAE | mlip F RMSE | NequIP F RMSE |", "|---|---|---|---|---|"]
    for k in epochs:
        lines.append(f"| {k} | {at('mlip', k, 'valid_forces_mae_meV_per_A')} | {at('mace', k, 'valid_forces_mae_meV_per_A')} | "
                     f"{at('mlip', k, 'valid_forces_rmse_meV_per_A')} | {at('nequip', k, 'valid_forces_rmse_meV_per_A')} |")
    return lines
