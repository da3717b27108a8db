"""Markdown rendering of the accuracy-vs-peers result JSON (see run_accuracy.py)."""
from __future__ import annotations

NAMES = {"mlip": "mlip", "nequip": "NequIP", "mace": "MACE"}


def render(result: dict) -> str:
    split = result["split"]
    rows = result["results"]
    n = {k: len(v) for k, v in split["indices"].items()}
    lines = [
        f"# Test errors on {result['dataset']}: mlip vs NequIP vs MACE, same split, same CPU budget",
        "",
        f"Split: seed {split['seed']}, {n['train']} train / {n['valid']} valid / {n['test']} test frames "
        f"({split['n_atoms']['test']} test atoms); indices in the .json. Every code trained alone, one thread, "
        "float32, budget below; evaluated with its own ASE calculator on the same test file; errors by one "
        "shared function (metrics.py).",
        "",
        "| code | params | budget s | training wall s | process wall s | process CPU s | epochs | best after epoch | E MAE meV/atom | E RMSE | F MAE meV/Å | F RMSE | S MAE meV/Å³ | S RMSE |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for code, r in rows.items():
        e, run, m = r["errors"], r["run"], r["meta"]
        trained = run.get("training_s") or "n/a (Lightning max_time)"
        lines.append(
            f"| {NAMES[code]} {m['version']} | {m['n_params']:,} | {run['budget_s']:.0f} | {trained} | {run.get('wall_s') or run['train']['wall_s']} | {run.get('cpu_s')} | "
            f"{run.get('epochs')} | {run.get('best_after_epochs')} | {e['energy_mae_meV_per_atom']:.2f} | {e['energy_rmse_meV_per_atom']:.2f} | "
            f"{e['forces_mae_meV_per_A']:.1f} | {e['forces_rmse_meV_per_A']:.1f} | {e['stress_mae_meV_per_A3']:.3f} | "
            f"{e['stress_rmse_meV_per_A3']:.3f} |"
        )
    c = split["peer_loss_coefficients"]
    s = split["train_scales"]
    lines += [
        "",
        "Loss (all three, MSE): per-atom energy, force components, stress components, with raw coefficients "
        f"E {c['energy']} : F {c['forces']} : S {c['stress']} (= mlip's normalised 1 : 10 : 1 with training-set "
        f"scales σ_E {s['energy_per_atom_rms_eV']:.4f} eV/atom, σ_F {s['force_rms_eV_per_A']:.4f} eV/Å, "
        f"σ_S {s['stress_rms_eV_per_A3']:.5f} eV/Å³).",
        "",
        f"Machine: {result['machine']['note']}.",
        "",
    ]
    if result.get("validation_curves"):
        import curves

        lines += ["Validation force error (meV/Å) after the same number of epochs, from each code's own log "
                  "(each logs a different statistic; see curves.py):", ""]
        lines += curves.render(result["validation_curves"]) + [""]
    return "\n".join(lines)
