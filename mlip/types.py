"""Core immutable data types that flow through mlip and md.

All three are ``typing.NamedTuple`` so they are typed, immutable, cheap, and usable from
TorchScript and ``torch.export``.

Conventions (see docs/architecture.md):

* ``System.cell`` rows are lattice vectors (as in ASE), Å.
* ``Edges.index[0]`` is the receiver ``i``, ``Edges.index[1]`` the sender ``j``; the edge vector is
  ``r_ij = r_j - r_i + shift @ cell`` with integer image offsets ``shift``.
* Batching is by ``System.system_index``: atoms of system ``s`` have ``system_index == s``, and
  atoms are stored grouped by system in increasing order.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor


class System(NamedTuple):
    """One or more atomic structures, batched by ``system_index``.

    Attributes:
        positions: (n_atoms, 3) Cartesian positions, Å. Floating point.
        atomic_numbers: (n_atoms,) int64 atomic numbers Z.
        cell: (n_systems, 3, 3) lattice vectors as rows, Å (zeros allowed where pbc is False).
        pbc: (n_systems, 3) bool periodicity along each lattice vector.
        system_index: (n_atoms,) int64 index of the system each atom belongs to, sorted.
        total_charge: (n_systems,) total charge of each system, e, or None (neutral). Only
            models with charges (long-range Coulomb) read it.
    """

    positions: Tensor
    atomic_numbers: Tensor
    cell: Tensor
    pbc: Tensor
    system_index: Tensor
    total_charge: Optional[Tensor] = None


class Edges(NamedTuple):
    """Directed neighbour pairs (a full list: both i->j and j->i are present).

    Attributes:
        index: (2, n_edges) int64; ``index[0]`` receiver i, ``index[1]`` sender j.
        shift: (n_edges, 3) int64 integer lattice image offsets of the sender, so that
            ``r_ij = positions[j] - positions[i] + shift @ cell[system_index[i]]`` (Å).
    """

    index: Tensor
    shift: Tensor


class Prediction(NamedTuple):
    """What a force field returns for a (batched) ``System``.

    Attributes:
        energy: (n_systems,) total potential energy, eV.
        forces: (n_atoms, 3) forces -dE/dr, eV/Å.
        stress: (n_systems, 3, 3) stress (1/V) dE/d(strain), eV/Å^3 (ASE sign convention:
            negative under compression), or None when not requested / not periodic.
        atomic_energies: (n_atoms,) per-atom energies, eV, or None.
        charges: (n_atoms,) learned partial charges, e, or None (only models with charges,
            and only when asked for, e.g. to train on reference charges or dipoles).
        energy_std: (n_systems,) committee spread of the energy (s times the population
            standard deviation over members, s the potential's calibration scale), eV, or None
            (not a committee, or not asked for).
        forces_std: (n_atoms,) committee spread of each atom's force,
            s·sqrt(Σ_xyz var_members(F_i)), eV/Å, or None (as ``energy_std``). ``forces`` stays
            the committee mean (the force of the mean energy).
    """

    energy: Tensor
    forces: Tensor
    stress: Optional[Tensor] = None
    atomic_energies: Optional[Tensor] = None
    charges: Optional[Tensor] = None
    energy_std: Optional[Tensor] = None
    forces_std: Optional[Tensor] = None


def n_systems(system: System) -> int:
    """Number of structures in a batched ``System``."""
    return int(system.cell.shape[0])


def edge_vectors(system: System, edges: Edges) -> Tensor:
    """Edge vectors ``r_ij = r_j - r_i + shift @ cell`` (n_edges, 3), Å.

    Computed with ordinary differentiable torch ops, so gradients flow to positions and cell
    whatever built the neighbour list.
    """
    receiver = edges.index[0]
    sender = edges.index[1]
    cell_per_edge = system.cell[system.system_index[receiver]]
    offset = torch.bmm(edges.shift.to(system.positions.dtype).unsqueeze(1), cell_per_edge).squeeze(1)
    return system.positions[sender] - system.positions[receiver] + offset


def empty_edges(device: Optional[torch.device] = None) -> Edges:
    """An edge set with no edges (isolated atoms)."""
    return Edges(
        index=torch.zeros((2, 0), dtype=torch.int64, device=device),
        shift=torch.zeros((0, 3), dtype=torch.int64, device=device),
    )
