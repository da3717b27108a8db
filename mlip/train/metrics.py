"""Error metrics of a potential on labelled graphs (energy per atom, forces, stress)."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch

from mlip.data.batch import Graph, iterate_batches


def evaluate(potential, graphs: Sequence[Graph], batch_size: int = 8, keep_values: bool = False) -> Dict[str, float]:
    """MAE/RMSE of energy per atom (meV/atom), forces (meV/Å) and stress (meV/Å³).

    With ``keep_values`` the reference and predicted arrays are returned too (for parity plots).
    """
    e_err, f_err, s_err = [], [], []
    e_ref, e_pred, f_ref, f_pred = [], [], [], []
    dtype = potential.dtype
    for batch in iterate_batches(graphs, batch_size, dtype, shuffle=False, device=potential.device):
        need_stress = bool(batch.stress_mask.any())
        pred = potential(batch.system, batch.edges, compute_stress=need_stress, fidelity=batch.fidelity)
        n = batch.n_atoms.to(dtype)
        m = batch.energy_mask
        if bool(m.any()):
            d = ((pred.energy - batch.energy) / n)[m]
            e_err.append(d.detach().cpu().double().numpy())
            e_ref.append((batch.energy / n)[m].cpu().double().numpy())
            e_pred.append((pred.energy / n)[m].detach().cpu().double().numpy())
        m = batch.forces_mask
        if bool(m.any()):
            f_err.append((pred.forces[m] - batch.forces[m]).detach().cpu().double().numpy().reshape(-1))
            f_ref.append(batch.forces[m].cpu().double().numpy().reshape(-1))
            f_pred.append(pred.forces[m].detach().cpu().double().numpy().reshape(-1))
        m = batch.stress_mask
        if need_stress and pred.stress is not None:
            s_err.append((pred.stress[m] - batch.stress[m]).detach().cpu().double().numpy().reshape(-1))
    out: Dict[str, float] = {}
    for name, errs, unit in (("energy", e_err, "meV/atom"), ("forces", f_err, "meV/A"), ("stress", s_err, "meV/A3")):
        if errs:
            e = np.concatenate(errs) * 1000.0
            out[f"{name}_mae_{unit}"] = float(np.mean(np.abs(e)))
            out[f"{name}_rmse_{unit}"] = float(np.sqrt(np.mean(e**2)))
    if keep_values:
        out["_values"] = {
            "energy_ref": np.concatenate(e_ref) if e_ref else np.zeros(0),
            "energy_pred": np.concatenate(e_pred) if e_pred else np.zeros(0),
            "forces_ref": np.concatenate(f_ref) if f_ref else np.zeros(0),
            "forces_pred": np.concatenate(f_pred) if f_pred else np.zeros(0),
        }
    return out
