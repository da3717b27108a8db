"""Neighbour lists reused across MD steps with a Verlet skin.

The list is built with radius ``cutoff_A + skin_A`` and rebuilt only when some atom has moved
more than ``skin_A / 2`` since the last build. Displacements are measured on UNWRAPPED
positions, so periodic wrapping can never hide a move. Every step the cached edges are
filtered to the exact cutoff (same distance formula, same sorted order as a fresh build), so
the skin never changes which pairs a force field sees, and forces are bit-identical with
and without skin.

Only the pairs that can have crossed the cutoff are measured each step: no atom moves more
than skin/2 between builds, so a pair closer than ``cutoff − skin`` at the build stays
inside and one farther than ``cutoff + skin`` stays outside (and is not cached). Pairs in
between (the "shell", about a third of the list for a 0.5 Å skin on 8.5 Å) are tested.

When the cell changes (a barostat), h₀ → h, the motion is split into the affine deformation
F = h₀⁻¹ h and what is left, u_i = r_i − r⁰_i F. A pair vector becomes d = d⁰ F + (u_j − u_i),
so with s_min, s_max the extreme singular values of F, |d| ≥ s_min |d⁰| − 2 max|u| and
|d| ≤ s_max |d⁰| + 2 max|u|. The list stays valid (no uncached pair inside the cutoff, no
"core" pair outside it) while 2 max|u| ≤ min(s_min (cutoff + skin) − cutoff,
cutoff − s_max (cutoff − skin)); with F = 1 this is the plain skin/2 test. Image offsets of
the tested pairs are then recomputed with the current cell.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

import torch
from torch import Tensor

from mlip.errors import ConfigError
from mlip.neighbor_list import neighbor_list
from mlip.types import Edges, System, empty_edges

#: Extra radius (Å) added to every build so that a pair exactly at the cutoff is decided by
#: our own distance test, never by the list builder's rounding; also the safety margin of
#: the "always inside" core.
_BUILD_MARGIN_A = 1e-6


class NeighborState(NamedTuple):
    """Cached neighbour list (immutable; part of :class:`md.State` and of checkpoints).

    Attributes:
        cutoff_A: the force field's interaction radius, Å (0: no edges needed).
        skin_A: extra radius of the cached list, Å.
        edges: edges within ``cutoff_A + skin_A`` at the last build.
        offsets: (n_edges, 3) image offsets ``shift @ cell`` of those edges, Å.
        reference_positions: unwrapped positions at the last build, Å.
        reference_cell: cell at the last build, Å.
        n_builds: how many times the list was built so far.
        backend: neighbour-list backend passed to :func:`mlip.neighbor_list.neighbor_list`.
        core: (n_edges,) bool, pairs that stay inside the cutoff until the next build.
        shell: (n_shell,) int64 indices of the edges whose length must be tested each step.
    """

    cutoff_A: float
    skin_A: float
    edges: Edges
    offsets: Tensor
    reference_positions: Tensor
    reference_cell: Tensor
    n_builds: int
    backend: str
    core: Tensor
    shell: Tensor


def squared_lengths(vectors: Tensor) -> Tensor:
    """|v|² of each row of (n, 3) ``vectors`` (a matrix-vector product: on CPU far faster than
    ``(v * v).sum(dim=1)``)."""
    return (vectors * vectors) @ vectors.new_ones(3)


def build(system: System, cutoff_A: float, skin_A: float, n_builds: int = 0,
          backend: str = "auto") -> NeighborState:
    """Build the cached list at ``system.positions`` with radius cutoff + skin (Å)."""
    if not cutoff_A >= 0.0:
        raise ConfigError(f"the force field cutoff must be >= 0 Å, got {cutoff_A}")
    if not skin_A >= 0.0:
        raise ConfigError(f"skin_A must be >= 0 Å, got {skin_A}; use 0 to rebuild every step")
    positions = system.positions.detach()
    if cutoff_A == 0.0:
        edges = empty_edges(positions.device)
    else:
        edges = neighbor_list(system, cutoff_A + skin_A + _BUILD_MARGIN_A, backend=backend)
    offsets = _image_offsets(system, edges)
    vectors = positions[edges.index[1]] - positions[edges.index[0]] + offsets
    core = squared_lengths(vectors) < max(cutoff_A - skin_A - _BUILD_MARGIN_A, 0.0) ** 2
    shell = torch.nonzero(~core).squeeze(1)
    return NeighborState(float(cutoff_A), float(skin_A), edges, offsets, positions,
                         system.cell.detach(), n_builds + 1, backend, core, shell)


def _strain_within_skin(neighbors: NeighborState, system: System) -> bool:
    """True while the strained cache is still valid (module docstring; float64, per system)."""
    reference = neighbors.reference_cell.double()
    deformation, info = torch.linalg.solve_ex(reference, system.cell.detach().double())
    if bool(info.any()):
        return False  # a degenerate reference cell (non-periodic directions): rebuild
    singular = torch.linalg.svdvals(deformation)
    per_atom = deformation.index_select(0, system.system_index)
    affine = torch.bmm(neighbors.reference_positions.double().unsqueeze(1), per_atom).squeeze(1)
    residual = float(squared_lengths(system.positions.detach().double() - affine).max()) ** 0.5
    cutoff, skin = neighbors.cutoff_A, neighbors.skin_A
    room = min(float(singular.min()) * (cutoff + skin) - cutoff,
               cutoff - float(singular.max()) * max(cutoff - skin - _BUILD_MARGIN_A, 0.0))
    return 2.0 * residual <= room


def needs_rebuild(neighbors: NeighborState, system: System) -> bool:
    """True when an atom moved more than skin/2 (unwrapped) or, when the cell changed, the
    strain and the remaining moves together may have carried a pair across the cutoff."""
    if neighbors.cutoff_A == 0.0:
        return False
    if not torch.equal(system.cell, neighbors.reference_cell):
        return not _strain_within_skin(neighbors, system)
    moved = system.positions.detach() - neighbors.reference_positions
    return bool(squared_lengths(moved).max() > (0.5 * neighbors.skin_A) ** 2)


def update(neighbors: NeighborState, system: System) -> Tuple[Edges, NeighborState]:
    """Edges within the exact cutoff at ``system.positions`` and the (possibly rebuilt) cache."""
    if neighbors.cutoff_A == 0.0:
        return neighbors.edges, neighbors
    if needs_rebuild(neighbors, system):
        neighbors = build(system, neighbors.cutoff_A, neighbors.skin_A, neighbors.n_builds,
                          neighbors.backend)
    return within_cutoff(neighbors, system), neighbors


def within_cutoff(neighbors: NeighborState, system: System) -> Edges:
    """The cached edges whose length is below ``cutoff_A`` at the current positions."""
    edges = neighbors.edges
    if edges.index.shape[1] == 0:
        return edges
    inside = neighbors.core
    shell = neighbors.shell
    if shell.numel() > 0:
        positions = system.positions.detach()
        index = edges.index.index_select(1, shell)
        if torch.equal(system.cell, neighbors.reference_cell):
            offsets = neighbors.offsets.index_select(0, shell)
        else:  # strained cell: the image offsets move with it
            offsets = _image_offsets(system, Edges(index=index, shift=edges.shift.index_select(0, shell)))
        vectors = positions.index_select(0, index[1]) - positions.index_select(0, index[0]) + offsets
        inside = inside.index_put((shell,), squared_lengths(vectors) < neighbors.cutoff_A**2)
    keep = torch.nonzero(inside).squeeze(1)
    return Edges(index=edges.index.index_select(1, keep), shift=edges.shift.index_select(0, keep))


def _image_offsets(system: System, edges: Edges) -> Tensor:
    cell = system.cell.detach()
    if edges.index.shape[1] == 0:
        return torch.zeros((0, 3), dtype=cell.dtype, device=cell.device)
    cell_per_edge = cell[system.system_index[edges.index[0]]]
    shift = edges.shift.to(cell.dtype).unsqueeze(1)
    return torch.bmm(shift, cell_per_edge).squeeze(1)
