"""Error metrics of a potential on labelled graphs (energy per atom, forces, stress).

:class:`ErrorAccumulator` collects the errors of predictions batch by batch, so one pass of
the potential can serve the validation loss and the metrics together (the trainer), or the
metrics of several subsets of each batch at once (per fidelity).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from mlip.data.batch import Batch, Graph, iterate_batches
from mlip.types import Prediction


def _numpy(x: Tensor) -> np.ndarray:
    return x.detach().cpu().double().numpy().reshape(-1)


class ErrorAccumulator:
    """MAE/RMSE of energy per atom (meV/atom), forces (meV/Å) and stress (meV/Å³) over the
    predictions given to :meth:`add`."""

    def __init__(self) -> None:
        self.errors: Dict[str, List[np.ndarray]] = {"energy": [], "forces": [], "stress": []}
        self.values: Dict[str, List[np.ndarray]] = {"energy_ref": [], "energy_pred": [], "forces_ref": [], "forces_pred": []}

    def add(self, pred: Prediction, batch: Batch, systems: Optional[Tensor] = None) -> None:
        """Errors of ``pred`` (eV, eV/Å, eV/Å³) against ``batch``'s labels; with ``systems``
        ((n_systems,) bool), only those systems' frames count."""
        n = batch.n_atoms.to(pred.energy.dtype)
        energy_mask, forces_mask, stress_mask = batch.energy_mask, batch.forces_mask, batch.stress_mask
        if systems is not None:
            energy_mask, stress_mask = energy_mask & systems, stress_mask & systems
            forces_mask = forces_mask & systems[batch.system.system_index]
        m = energy_mask
        if bool(m.any()):
            self.errors["energy"].append(_numpy(((pred.energy - batch.energy) / n)[m]))
            self.values["energy_ref"].append(_numpy((batch.energy / n)[m]))
            self.values["energy_pred"].append(_numpy((pred.energy / n)[m]))
        m = forces_mask
        if bool(m.any()):
            self.errors["forces"].append(_numpy(pred.forces[m] - batch.forces[m]))
            self.values["forces_ref"].append(_numpy(batch.forces[m]))
            self.values["forces_pred"].append(_numpy(pred.forces[m]))
        m = stress_mask
        if pred.stress is not None and bool(m.any()):
            self.errors["stress"].append(_numpy(pred.stress[m] - batch.stress[m]))

    def result(self, keep_values: bool = False) -> Dict[str, object]:
        """``{"energy_mae_meV/atom": ..., "forces_rmse_meV/A": ..., ...}`` for the quantities
        seen; with ``keep_values`` also ``"_values"``: reference and predicted arrays (eV/atom, eV/Å)."""
        out: Dict[str, object] = {}
        for name, unit in (("energy", "meV/atom"), ("forces", "meV/A"), ("stress", "meV/A3")):
            if self.errors[name]:
                e = np.concatenate(self.errors[name]) * 1000.0
                out[f"{name}_mae_{unit}"] = float(np.mean(np.abs(e)))
                out[f"{name}_rmse_{unit}"] = float(np.sqrt(np.mean(e**2)))
        if keep_values:
            out["_values"] = {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.values.items()}
        return out


def predict(potential, batch: Batch) -> Prediction:
    """The potential's energies, forces and (where the batch has stress labels) stresses."""
    need_stress = bool(batch.stress_mask.any())
    return potential(batch.system, batch.edges, compute_stress=need_stress, fidelity=batch.fidelity)


def evaluate(potential, graphs: Sequence[Graph], batch_size: int = 8, keep_values: bool = False) -> Dict[str, float]:
    """MAE/RMSE of energy per atom (meV/atom), forces (meV/Å) and stress (meV/Å³).

    With ``keep_values`` the reference and predicted arrays are returned too (for parity plots).
    """
    errors = ErrorAccumulator()
    for batch in iterate_batches(graphs, batch_size, potential.dtype, shuffle=False, device=potential.device):
        errors.add(predict(potential, batch), batch)
    return errors.result(keep_values)
