"""The skin-cached neighbour lists of a batch of systems, checked and filtered in one go.

Each system keeps its own :class:`md.neighbor_cache.NeighborState`, rebuilt on its own
schedule with the same test as in a run of that system alone (an atom moved more than skin/2,
or the cell changed). What is batched is the per-step work: the displacement test of all
systems at once (one reduction per system by ``scatter_reduce``), and the filtering of the
cached edges to the exact cutoff on their concatenation (kept until some system rebuilds).
The filtered edges equal, in order, the concatenation of what :func:`md.neighbor_cache.update`
gives each system (same distance formula, same edges kept).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mlip.types import Edges, System

from md import neighbor_cache
from md.neighbor_cache import NeighborState, squared_lengths


class BatchNeighbors:
    """Per-step neighbour-list upkeep of a batch (holds the concatenated caches between steps).

    Args:
        atom_offsets: (n_systems,) index of each system's first atom in the batch.
        system_index: (n_atoms_total,) system of each atom.
    """

    def __init__(self, atom_offsets: Tensor, system_index: Tensor) -> None:
        self.atom_offsets = atom_offsets
        self.system_index = system_index
        self._sources: Optional[List[NeighborState]] = None
        self._joined = None

    def update(self, neighbors: Sequence[NeighborState], systems: Sequence[System], positions: Tensor,
               cells: Tensor) -> Tuple[Edges, List[NeighborState]]:
        """Edges within the cutoff of every system at ``positions`` (the systems' positions
        concatenated, Å; ``cells`` their cells), as one list with batch atom indices, and each
        system's (possibly rebuilt) cache."""
        neighbors = list(neighbors)
        cutoffs = {nb.cutoff_A for nb in neighbors}
        if len(cutoffs) > 1 or 0.0 in cutoffs:  # mixed or no interaction radius: one system at a time
            updated = [neighbor_cache.update(nb, s) for nb, s in zip(neighbors, systems)]
            return join_edges([e for e, _ in updated], self.atom_offsets), [nb for _, nb in updated]
        for i in self._stale(neighbors, positions, cells):
            nb = neighbors[i]
            neighbors[i] = neighbor_cache.build(systems[i], nb.cutoff_A, nb.skin_A, nb.n_builds, nb.backend)
        return self._within_cutoff(neighbors, positions, cutoffs.pop()), neighbors

    def _stale(self, neighbors: List[NeighborState], positions: Tensor, cells: Tensor) -> List[int]:
        """Systems whose cache must be rebuilt (moved more than skin/2, or a new cell)."""
        reference = torch.cat([nb.reference_positions for nb in neighbors])
        moved = squared_lengths(positions.detach() - reference)
        largest = torch.zeros(len(neighbors), dtype=moved.dtype, device=moved.device)
        largest = largest.scatter_reduce(0, self.system_index, moved, "amax", include_self=False)
        limit = torch.tensor([(0.5 * nb.skin_A) ** 2 for nb in neighbors], dtype=moved.dtype, device=moved.device)
        cell_changed = (cells != torch.cat([nb.reference_cell for nb in neighbors])).flatten(1).any(dim=1)
        return torch.nonzero((largest > limit) | cell_changed).flatten().tolist()

    def _within_cutoff(self, neighbors: List[NeighborState], positions: Tensor, cutoff_A: float) -> Edges:
        if self._sources is None or any(a is not b for a, b in zip(self._sources, neighbors)):
            self._sources, self._joined = neighbors, _join_caches(neighbors, self.atom_offsets)
        index, shift, offsets, core, shell = self._joined
        if index.shape[1] == 0:
            return Edges(index, shift)
        inside = core
        if shell.numel() > 0:
            pair = index.index_select(1, shell)
            vectors = (positions.detach().index_select(0, pair[1]) - positions.detach().index_select(0, pair[0])
                       + offsets.index_select(0, shell))
            inside = inside.index_put((shell,), squared_lengths(vectors) < cutoff_A**2)
        keep = torch.nonzero(inside).squeeze(1)
        return Edges(index.index_select(1, keep), shift.index_select(0, keep))


def join_edges(edges: Sequence[Edges], atom_offsets: Tensor) -> Edges:
    """The systems' edges as one list: atom indices shifted by their system's atom offset."""
    counts = torch.tensor([e.index.shape[1] for e in edges], device=atom_offsets.device)
    return Edges(torch.cat([e.index for e in edges], dim=1) + torch.repeat_interleave(atom_offsets, counts),
                 torch.cat([e.shift for e in edges]))


def _join_caches(neighbors: Sequence[NeighborState], atom_offsets: Tensor):
    """(index, shift, offsets, core, shell) of the concatenated caches, in batch indices."""
    edges = join_edges([nb.edges for nb in neighbors], atom_offsets)
    counts = [int(nb.edges.index.shape[1]) for nb in neighbors]
    starts = torch.tensor([0] + counts[:-1], dtype=torch.int64, device=atom_offsets.device).cumsum(0)
    shell_counts = torch.tensor([nb.shell.numel() for nb in neighbors], device=atom_offsets.device)
    shell = torch.cat([nb.shell for nb in neighbors]) + torch.repeat_interleave(starts, shell_counts)
    return (edges.index, edges.shift, torch.cat([nb.offsets for nb in neighbors]),
            torch.cat([nb.core for nb in neighbors]), shell)
