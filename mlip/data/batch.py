"""Graphs (frames with cached neighbour lists) and their collation into training batches."""
from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mlip.data.frames import Frame
from mlip.neighbor_list import neighbor_list
from mlip.types import Edges, System


class Batch(NamedTuple):
    """A collated batch: inputs plus reference labels and masks (mlip units).

    ``energy_mask``/``stress_mask`` are per system, ``forces_mask`` per atom; masked-out
    labels are zero-filled and contribute nothing to the loss. ``charges_mask`` is per atom,
    ``dipole_mask`` per system (reference partial charges in e, dipoles in e·Å).
    ``fidelity``: per-system fidelity names (multi-fidelity data), or None when no frame has one.
    """

    system: System
    edges: Edges
    energy: Tensor
    energy_mask: Tensor
    forces: Tensor
    forces_mask: Tensor
    stress: Tensor
    stress_mask: Tensor
    weight: Tensor
    n_atoms: Tensor
    charges: Optional[Tensor] = None
    charges_mask: Optional[Tensor] = None
    dipole: Optional[Tensor] = None
    dipole_mask: Optional[Tensor] = None
    fidelity: Optional[Tuple[Optional[str], ...]] = None


class Graph(NamedTuple):
    """A frame with its neighbour list (computed once, at the frame's positions)."""

    frame: Frame
    index: np.ndarray  # (2, n_edges) int64
    shift: np.ndarray  # (n_edges, 3) int64


def build_graphs(frames: Sequence[Frame], cutoff: float) -> List[Graph]:
    """Neighbour lists (cutoff in Å) of every frame, computed once."""
    out = []
    for f in frames:
        system = System(
            torch.from_numpy(f.positions),
            torch.from_numpy(f.numbers),
            torch.from_numpy(f.cell).unsqueeze(0),
            torch.from_numpy(f.pbc).unsqueeze(0),
            torch.zeros(f.n_atoms, dtype=torch.int64),
        )
        e = neighbor_list(system, cutoff)
        out.append(Graph(f, e.index.numpy(), e.shift.numpy()))
    return out


def collate(graphs: Sequence[Graph], dtype: torch.dtype, device="cpu") -> Batch:
    """Concatenate graphs into one :class:`Batch` (edges offset by atom counts)."""
    frames = [g.frame for g in graphs]
    counts = np.array([f.n_atoms for f in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_sys = len(frames)
    t = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=device)
    system = System(
        positions=t(np.concatenate([f.positions for f in frames])),
        atomic_numbers=t(np.concatenate([f.numbers for f in frames]), torch.int64),
        cell=t(np.stack([f.cell for f in frames])),
        pbc=t(np.stack([f.pbc for f in frames]), torch.bool),
        system_index=t(np.repeat(np.arange(n_sys), counts), torch.int64),
        total_charge=t([f.total_charge for f in frames]),
    )
    index = np.concatenate([g.index + o for g, o in zip(graphs, offsets)], axis=1)
    shift = np.concatenate([g.shift for g in graphs], axis=0)
    edges = Edges(t(index, torch.int64), t(shift, torch.int64))
    energy = t([f.energy if f.energy is not None else 0.0 for f in frames])
    energy_mask = t([f.energy is not None for f in frames], torch.bool)
    forces = t(np.concatenate([f.forces if f.forces is not None else np.zeros((f.n_atoms, 3)) for f in frames]))
    forces_mask = t(np.repeat([f.forces is not None for f in frames], counts), torch.bool)
    stress = t(np.stack([f.stress if f.stress is not None else np.zeros((3, 3)) for f in frames]))
    stress_mask = t([f.stress is not None for f in frames], torch.bool)
    weight = t([f.weight for f in frames])
    charges = t(np.concatenate([f.charges if f.charges is not None else np.zeros(f.n_atoms) for f in frames]))
    charges_mask = t(np.repeat([f.charges is not None for f in frames], counts), torch.bool)
    dipole = t(np.stack([f.dipole if f.dipole is not None else np.zeros(3) for f in frames]))
    dipole_mask = t([f.dipole is not None for f in frames], torch.bool)
    fidelity = tuple(f.fidelity for f in frames) if any(f.fidelity is not None for f in frames) else None
    return Batch(system, edges, energy, energy_mask, forces, forces_mask, stress, stress_mask, weight, t(counts, torch.int64),
                 charges, charges_mask, dipole, dipole_mask, fidelity)


def batch_groups(
    graphs: Sequence[Graph], batch_size: int, shuffle: bool, generator: Optional[torch.Generator] = None
) -> List[List[Graph]]:
    """The graphs of each batch of ``batch_size``; the order is shuffled with ``generator`` if
    asked (one ``randperm`` draw)."""
    order = torch.randperm(len(graphs), generator=generator).tolist() if shuffle else list(range(len(graphs)))
    return [[graphs[i] for i in order[k : k + batch_size]] for k in range(0, len(order), batch_size)]


def iterate_batches(
    graphs: Sequence[Graph], batch_size: int, dtype: torch.dtype, shuffle: bool, generator: Optional[torch.Generator] = None, device="cpu"
) -> Iterator[Batch]:
    """Collated batches of :func:`batch_groups`."""
    for group in batch_groups(graphs, batch_size, shuffle, generator):
        yield collate(group, dtype, device)
