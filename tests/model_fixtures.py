"""Small models and structures shared by the physics tests (float64 by default)."""
from __future__ import annotations

import ase
import numpy as np
import torch

import mlip


def small_config(**overrides) -> "mlip.ModelConfig":
    base = dict(elements=("H", "C", "O"), cutoff=3.5, l_max=2, channels=8, n_layers=3, radial_hidden=16, readout_hidden=8, avg_num_neighbors=6.0)
    base.update(overrides)
    return mlip.ModelConfig(**base)


def small_potential(dtype=torch.float64, seed=0, **overrides) -> "mlip.Potential":
    pot = mlip.build_potential(small_config(**overrides), dtype=dtype, seed=seed)
    # non-trivial per-element scale/shift so the readout is exercised
    with torch.no_grad():
        readout = pot.model.terms[0].readout
        readout.scale.copy_(torch.tensor([0.7, 1.3, 0.9], dtype=dtype)[: readout.scale.numel()])
        readout.shift.copy_(torch.tensor([-13.6, -1030.0, -2040.0], dtype=dtype)[: readout.shift.numel()])
    return pot


def random_molecule(n_atoms=7, seed=0, box=3.0) -> ase.Atoms:
    """Random H/C/O cluster with no two atoms closer than 0.9 Å."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n_atoms:
        p = rng.random(3) * box
        if all(np.linalg.norm(p - q) > 0.9 for q in pos):
            pos.append(p)
    numbers = rng.choice([1, 6, 8], size=n_atoms)
    return ase.Atoms(numbers=numbers, positions=np.array(pos))


def random_crystal(seed=0, n_atoms=4) -> ase.Atoms:
    """Small triclinic periodic cell (edges ~3 Å) — smaller than twice the 3.5 Å cutoff."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.1, 0.0, 0.0], [0.6, 2.9, 0.0], [-0.4, 0.5, 3.2]]) + 0.1 * rng.standard_normal((3, 3))
    frac = []
    while len(frac) < n_atoms:
        f = rng.random(3)
        cart = f @ cell
        ok = True
        for g in frac:
            d = f - g
            d -= np.round(d)
            if np.linalg.norm(d @ cell) < 1.0:
                ok = False
        if ok:
            frac.append(f)
    numbers = rng.choice([1, 6, 8], size=n_atoms)
    return ase.Atoms(numbers=numbers, scaled_positions=np.array(frac), cell=cell, pbc=True)


def predict(pot, atoms_list, stress=False):
    system = mlip.system_from_atoms(atoms_list, dtype=pot.dtype)
    edges = mlip.neighbor_list(system, pot.cutoff)
    return pot(system, edges, compute_stress=stress)
