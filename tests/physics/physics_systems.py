"""Small structures and helpers shared by the physics tests (float64 unless stated)."""
from __future__ import annotations

import ase
import ase.build
import numpy as np
import pytest
import torch

from mlip.types import System


def system_of(atoms_list, total_charge=None, dtype=torch.float64) -> System:
    """A batched System from ase.Atoms (optionally with per-system total charges, e)."""
    if isinstance(atoms_list, ase.Atoms):
        atoms_list = [atoms_list]
    pos = np.concatenate([a.positions for a in atoms_list])
    return System(
        torch.tensor(pos, dtype=dtype),
        torch.tensor(np.concatenate([a.numbers for a in atoms_list]), dtype=torch.int64),
        torch.tensor(np.stack([np.array(a.cell) for a in atoms_list]), dtype=dtype),
        torch.tensor(np.stack([a.pbc for a in atoms_list]), dtype=torch.bool),
        torch.tensor(np.concatenate([[k] * len(a) for k, a in enumerate(atoms_list)]), dtype=torch.int64),
        None if total_charge is None else torch.tensor(total_charge, dtype=dtype),
    )


def rock_salt(a=5.64, cubic=True, rattle=0.0, seed=0) -> ase.Atoms:
    atoms = ase.build.bulk("NaCl", "rocksalt", a=a, cubic=cubic)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


def ionic_charges(atoms, dtype=torch.float64) -> torch.Tensor:
    """+1 e on Na, −1 e on Cl."""
    return torch.tensor([1.0 if z == 11 else -1.0 for z in atoms.numbers], dtype=dtype)


def triclinic_ionic_cell(seed=0) -> ase.Atoms:
    """A neutral, dipole-free (centrosymmetric) arrangement of 8 ions in a triclinic cell."""
    rng = np.random.default_rng(seed)
    cell = np.array([[6.0, 0.0, 0.0], [1.0, 5.5, 0.0], [-0.8, 0.6, 6.3]])
    half = rng.random((4, 3)) * 0.35
    frac = np.concatenate([0.5 + half, 0.5 - half])
    return ase.Atoms("NaClNaClNaClNaCl", scaled_positions=frac, cell=cell, pbc=True)


def random_cluster(n=6, seed=0, box=5.0, min_dist=1.8) -> ase.Atoms:
    """A neutral Na/Cl cluster (alternating species) with no pair closer than ``min_dist``."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.random(3) * box
        if all(np.linalg.norm(p - q) > min_dist for q in pos):
            pos.append(p)
    return ase.Atoms(["Na", "Cl"] * (n // 2), positions=np.array(pos))


def central_differences(fn, x: torch.Tensor, h=1e-5) -> torch.Tensor:
    """d fn / d x (same shape as x) by central differences, float64."""
    grad = torch.zeros_like(x)
    flat = grad.view(-1)
    for k in range(x.numel()):
        xp = x.clone()
        xp.view(-1)[k] += h
        xm = x.clone()
        xm.view(-1)[k] -= h
        flat[k] = (fn(xp) - fn(xm)) / (2 * h)
    return grad


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny systems on a shared machine: intra-op threads only add contention."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
