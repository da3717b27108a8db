"""The one error function used for all three codes: test-set MAE and RMSE against the
reference labels of the test file.

Energy per atom (meV/atom): |E_pred − E_ref| / n_atoms per frame. Forces (meV/Å): every
Cartesian component of every atom. Stress (meV/Å³): the 6 independent Voigt components of
every frame (ASE sign convention). Reference labels are read from the same test file
(``REF_energy``, ``REF_forces``, ``REF_stress``) that every code was evaluated on.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def reference_labels(test_file: str) -> Dict[str, np.ndarray]:
    import ase.io

    frames = ase.io.read(test_file, ":")
    return {
        "energy_eV": np.array([a.info["REF_energy"] for a in frames], dtype=np.float64),
        "forces_eV_per_A": np.concatenate([a.arrays["REF_forces"] for a in frames]).astype(np.float64),
        "stress_eV_per_A3": np.stack([np.asarray(a.info["REF_stress"], dtype=np.float64).reshape(6) for a in frames]),
        "n_atoms": np.array([len(a) for a in frames]),
    }


def _mae_rmse(err: np.ndarray):
    err = np.asarray(err, dtype=np.float64).reshape(-1)
    return float(np.mean(np.abs(err))), float(np.sqrt(np.mean(err**2)))


def test_errors(pred: Dict[str, np.ndarray], ref: Dict[str, np.ndarray]) -> Dict[str, float]:
    """MAE/RMSE of energy (meV/atom), forces (meV/Å), stress (meV/Å³); inputs in eV units."""
    if not np.array_equal(np.asarray(pred["n_atoms"]), ref["n_atoms"]):
        raise ValueError("prediction and reference frames differ (n_atoms mismatch): evaluate on the same test file")
    out = {}
    e_mae, e_rmse = _mae_rmse((pred["energy_eV"] - ref["energy_eV"]) / ref["n_atoms"] * 1e3)
    f_mae, f_rmse = _mae_rmse((pred["forces_eV_per_A"] - ref["forces_eV_per_A"]) * 1e3)
    s_mae, s_rmse = _mae_rmse((pred["stress_eV_per_A3"] - ref["stress_eV_per_A3"]) * 1e3)
    out.update(energy_mae_meV_per_atom=e_mae, energy_rmse_meV_per_atom=e_rmse,
               forces_mae_meV_per_A=f_mae, forces_rmse_meV_per_A=f_rmse,
               stress_mae_meV_per_A3=s_mae, stress_rmse_meV_per_A3=s_rmse)
    return out
