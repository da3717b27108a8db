"""Dataset statistics from TRAINING frames only: reference energies, force scale, neighbours."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np

from mlip.data.batch import Graph
from mlip.errors import DataError


@dataclass(frozen=True)
class DatasetStatistics:
    """Attributes:
    atomic_energies_eV: per-element reference energies (least squares of E on composition).
    force_rms_eV_per_A: RMS of force components (the network's energy scale, eV/Å · Å).
    energy_per_atom_rms_eV: RMS of (E − Σ reference)/n_atoms, eV/atom.
    stress_rms_eV_per_A3: RMS of stress components (0 if no stresses).
    avg_num_neighbors: mean edges per atom at the model cutoff.
    """

    atomic_energies_eV: Dict[int, float]
    force_rms_eV_per_A: float
    energy_per_atom_rms_eV: float
    stress_rms_eV_per_A3: float
    avg_num_neighbors: float

    def to_dict(self):
        d = dict(self.__dict__)
        d["atomic_energies_eV"] = {str(k): v for k, v in self.atomic_energies_eV.items()}
        return d


def compute_statistics(graphs: Sequence[Graph], atomic_numbers: Sequence[int]) -> DatasetStatistics:
    """Statistics of training graphs for the elements ``atomic_numbers`` (model order)."""
    if not graphs:
        raise DataError("no training frames to compute statistics from")
    zs = list(atomic_numbers)
    with_e = [g.frame for g in graphs if g.frame.energy is not None]
    ref = {z: 0.0 for z in zs}
    e_rms = 0.0
    if with_e:
        counts = np.array([[np.sum(f.numbers == z) for z in zs] for f in with_e], dtype=np.float64)
        energies = np.array([f.energy for f in with_e])
        # ridge-stabilised least squares: elements that never vary in count stay identifiable
        a = counts.T @ counts + 1e-8 * np.eye(len(zs))
        mu = np.linalg.solve(a, counts.T @ energies)
        ref = {z: float(m) for z, m in zip(zs, mu)}
        resid = (energies - counts @ mu) / counts.sum(axis=1)
        e_rms = float(np.sqrt(np.mean(resid**2)))
    forces = [g.frame.forces for g in graphs if g.frame.forces is not None]
    f_rms = float(np.sqrt(np.mean(np.concatenate([f.reshape(-1) for f in forces]) ** 2))) if forces else 0.0
    stresses = [g.frame.stress for g in graphs if g.frame.stress is not None]
    s_rms = float(np.sqrt(np.mean(np.stack(stresses) ** 2))) if stresses else 0.0
    n_edges = sum(g.index.shape[1] for g in graphs)
    n_atoms = sum(g.frame.n_atoms for g in graphs)
    return DatasetStatistics(ref, f_rms, e_rms, s_rms, max(n_edges / n_atoms, 1.0))
