"""One force call for many systems: concatenate them, evaluate once, split the results.

Each system keeps its own skin-cached neighbour list (:mod:`md.neighbor_cache`), rebuilt on
its own schedule as in a run of that system alone (checked and filtered for all systems at
once by :mod:`md.batch_neighbors`), so the edges a system contributes are the ones its solo
run would hand over. The systems' atoms are concatenated in order, their
edges shifted by the atom offset of their system, and the force field is called once on the
batched :class:`mlip.types.System` (``system_index`` 0 … n−1, per-system cell and pbc). The
energies (eV), forces (eV/Å) and stresses (eV/Å^3) are split back per system and copied, so a
system's state never holds a view into the whole batch (a checkpoint then saves its own atoms
only).
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor

from mlip.errors import ConfigError, SimulationError
from mlip.types import Edges, System

from md import neighbor_cache
from md.batch_neighbors import BatchNeighbors, join_edges
from md.forcefield import Evaluation, ForceField, in_forcefield_dtype
from md.neighbor_cache import NeighborState


class BatchLayout(NamedTuple):
    """What stays the same from step to step of a batch (built once by :func:`batch_layout`).

    Attributes:
        atom_counts: atoms per system.
        atom_offsets: (n_systems,) int64 index of each system's first atom in the batch.
        atomic_numbers: (n_atoms_total,) concatenated atomic numbers.
        pbc: (n_systems, 3) periodicity.
        system_index: (n_atoms_total,) system of each atom.
        total_charge: (n_systems,) total charges, e (0 for a system that states none), or
            None when no system states one.
        periodic: per system, True when periodic in all three directions (stress applies).
    """

    atom_counts: List[int]
    atom_offsets: Tensor
    atomic_numbers: Tensor
    pbc: Tensor
    system_index: Tensor
    total_charge: Optional[Tensor]
    periodic: List[bool]


def batch_layout(systems: Sequence[System]) -> BatchLayout:
    """The fixed part of the batch of one-structure ``systems`` (same dtype and device)."""
    if len(systems) == 0:
        raise ConfigError("a batch needs at least one system")
    dtypes = {s.positions.dtype for s in systems}
    devices = {s.positions.device for s in systems}
    if len(dtypes) > 1 or len(devices) > 1:
        raise ConfigError(f"the systems of a batch must share one dtype and device, got dtypes "
                          f"{sorted(str(d) for d in dtypes)} on {sorted(str(d) for d in devices)}; "
                          "build every state with the same dtype= and device=")
    counts = [int(s.positions.shape[0]) for s in systems]
    device = systems[0].positions.device
    offsets = torch.tensor([0] + counts[:-1], dtype=torch.int64, device=device).cumsum(0)
    index = torch.repeat_interleave(torch.arange(len(systems), device=device),
                                    torch.tensor(counts, device=device))
    charges = None
    if any(s.total_charge is not None for s in systems):
        dtype = systems[0].positions.dtype
        charges = torch.cat([s.total_charge.reshape(1).to(dtype) if s.total_charge is not None
                             else torch.zeros(1, dtype=dtype, device=device) for s in systems])
    return BatchLayout(counts, offsets, torch.cat([s.atomic_numbers for s in systems]),
                       torch.cat([s.pbc for s in systems]), index, charges,
                       [bool(s.pbc.all()) for s in systems])


def concatenate(systems: Sequence[System], layout: BatchLayout) -> System:
    """One batched System of the ``systems`` at their current positions and cells (Å)."""
    return System(torch.cat([s.positions for s in systems]), layout.atomic_numbers,
                  torch.cat([s.cell for s in systems]), layout.pbc, layout.system_index, layout.total_charge)


def concatenate_edges(edges: Sequence[Edges], layout: BatchLayout) -> Edges:
    """The systems' edges as one list: atom indices shifted by their system's atom offset."""
    return join_edges(edges, layout.atom_offsets)


def neighbor_upkeep(layout: BatchLayout) -> BatchNeighbors:
    """The batched neighbour-list upkeep for the systems of ``layout`` (reuse it every step)."""
    return BatchNeighbors(layout.atom_offsets, layout.system_index)


def evaluate_batch(forcefield: ForceField, systems: Sequence[System], neighbors: Sequence[NeighborState],
                   compute_stress: Union[bool, Sequence[bool]] = False,
                   layout: Optional[BatchLayout] = None, upkeep: Optional[BatchNeighbors] = None) -> List[Evaluation]:
    """Energy (eV), forces (eV/Å) and, where asked, stress (eV/Å^3) of every system, from
    one call of ``forcefield``; what :func:`md.forcefield.evaluate` gives each system alone.

    Args:
        forcefield: see :mod:`md.forcefield`; it must return one energy per system.
        systems: one-structure systems (positions unwrapped, Å), all of one dtype and device.
        neighbors: each system's neighbour cache.
        compute_stress: one flag for all, or one per system (only honoured for systems
            periodic in all three directions).
        layout: :func:`batch_layout` of ``systems`` (built here when None).
        upkeep: :func:`neighbor_upkeep` of ``layout``, kept from step to step (it holds the
            concatenated caches); None updates each system's cache on its own.
    """
    layout = layout if layout is not None else batch_layout(systems)
    n = len(systems)
    flags = [bool(compute_stress)] * n if isinstance(compute_stress, bool) else [bool(f) for f in compute_stress]
    if len(neighbors) != n or len(flags) != n:
        raise ConfigError(f"evaluate_batch got {n} systems, {len(neighbors)} neighbour caches and "
                          f"{len(flags)} stress flags; give one of each per system")
    batch = concatenate(systems, layout)
    if upkeep is None:
        updated = [neighbor_cache.update(nb, s) for nb, s in zip(neighbors, systems)]
        edges, caches = concatenate_edges([e for e, _ in updated], layout), [nb for _, nb in updated]
    else:
        edges, caches = upkeep.update(neighbors, systems, batch.positions, batch.cell)
    dtype = batch.positions.dtype
    want = [f and p for f, p in zip(flags, layout.periodic)]
    prediction = forcefield(in_forcefield_dtype(forcefield, batch), edges, any(want))
    energies = prediction.energy.detach().to(dtype)
    forces = prediction.forces.detach().to(dtype)
    if energies.shape != (n,) or forces.shape != batch.positions.shape:
        raise SimulationError(
            f"for a batch of {n} systems ({batch.positions.shape[0]} atoms) the force field returned energy "
            f"of shape {tuple(energies.shape)} and forces of shape {tuple(forces.shape)}; batched runs need "
            f"one energy per system and one force 3-vector per atom")
    stresses: List[Optional[Tensor]] = [None] * n
    if any(want) and prediction.stress is not None:
        stress = prediction.stress.detach().to(dtype).reshape(-1, 3, 3)
        stresses = [stress[i].clone() if w else None for i, w in enumerate(want)]
    return [Evaluation(e.clone(), f.clone(), st, nb)
            for e, f, st, nb in zip(energies.unbind(0), forces.split(layout.atom_counts), stresses, caches)]
