"""Neighbour lists: ``neighbor_list(system, cutoff) -> Edges``.

The list is a *full* list (i->j and j->i), contains integer topology only (receiver, sender,
integer image shift) and is sorted by (receiver, sender, shift) so results are deterministic.
Distances are recomputed downstream by differentiable torch ops
(:func:`mlip.types.edge_vectors`).

Backends (all give the same list, in the same order):
    ``"auto"`` (default): ``"native"`` when the compiled op library is loaded, else ``"matscipy"``.
    ``"native"``: the cell list of the op library (mlip.ops, ``make ops``); an error if not built.
    ``"matscipy"``: matscipy's C cell-list, per system of the batch.
    ``"reference"``: an O(N^2 · images) numpy implementation, for tests and tiny systems.

Periodic, non-periodic and mixed boundary conditions, triclinic cells and cells smaller than
the cutoff (many images) are supported.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np
import torch

from mlip.errors import BackendUnavailableError, InvalidSystemError
from mlip.types import Edges, System

BACKENDS = ("matscipy", "reference")
#: every value ``neighbor_list(backend=...)`` accepts
ALL_BACKENDS = ("auto", "native") + BACKENDS


def resolve_backend(backend: str) -> str:
    """The concrete backend ``"auto"`` stands for here (``"native"`` when the op library is
    loaded, else ``"matscipy"``); other names are returned unchanged after a check."""
    if backend == "auto":
        from mlip.ops._library import available

        return "native" if available() else "matscipy"
    if backend not in ALL_BACKENDS:
        raise BackendUnavailableError(f"unknown neighbour-list backend {backend!r}; choose one of {ALL_BACKENDS}")
    return backend


def neighbor_list(system: System, cutoff: float, backend: str = "auto") -> Edges:
    """All pairs (i, j, image) with |r_ij| < ``cutoff`` (Å), excluding i == j in the same image.

    Args:
        system: batched structures; atoms never pair across systems.
        cutoff: interaction radius, Å (> 0).
        backend: ``"auto"``, ``"native"``, ``"matscipy"`` or ``"reference"`` (module docstring).

    Returns:
        ``Edges`` on the device of ``system.positions``, sorted by (i, j, shift).

    Example:
        >>> import ase.build
        >>> from mlip.ase_bridge import system_from_atoms
        >>> e = neighbor_list(system_from_atoms(ase.build.molecule("H2O")), cutoff=1.2)
        >>> e.index.shape[1]   # O-H twice each way
        4
    """
    if not (cutoff > 0 and math.isfinite(cutoff)):
        raise InvalidSystemError(f"cutoff must be a positive finite number of Å, got {cutoff}")
    backend = resolve_backend(backend)
    if backend == "native":
        from mlip.ops.neighbor_list import native_neighbor_list  # raises BackendUnavailableError if not built

        return native_neighbor_list(system, cutoff)
    device = system.positions.device
    pos = system.positions.detach().cpu().double().numpy()
    cell = system.cell.detach().cpu().double().numpy()
    pbc = system.pbc.cpu().numpy()
    sidx = system.system_index.cpu().numpy()
    n_sys = cell.shape[0]
    starts = np.searchsorted(sidx, np.arange(n_sys + 1))
    parts_i, parts_j, parts_s = [], [], []
    for s in range(n_sys):
        lo, hi = int(starts[s]), int(starts[s + 1])
        if hi - lo == 0:
            continue
        fn = _pairs_matscipy if backend == "matscipy" else _pairs_reference
        i, j, shift = fn(pos[lo:hi], cell[s], pbc[s], cutoff)
        parts_i.append(i + lo)
        parts_j.append(j + lo)
        parts_s.append(shift)
    if not parts_i:
        i = np.zeros(0, np.int64)
        j = np.zeros(0, np.int64)
        shift = np.zeros((0, 3), np.int64)
    else:
        i, j, shift = np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_s)
    order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], j, i))
    index = torch.from_numpy(np.stack([i[order], j[order]]).astype(np.int64)).to(device)
    return Edges(index=index, shift=torch.from_numpy(shift[order].astype(np.int64)).to(device))


def _working_cell(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> np.ndarray:
    """A non-degenerate cell: periodic rows kept; non-periodic rows replaced, if needed, by
    vectors orthogonal to the others that span the positions (they only bin atoms)."""
    cell = cell.copy()
    for d in range(3):
        if pbc[d]:
            continue
        others = [cell[k] for k in range(3) if k != d]
        normal = np.cross(others[0], others[1])
        if np.linalg.norm(normal) < 1e-12:  # other rows degenerate too: use a Cartesian axis
            normal = np.eye(3)[d]
        normal /= np.linalg.norm(normal)
        extent = float(np.ptp(pos @ normal)) if len(pos) else 0.0
        if abs(float(np.dot(cell[d], normal))) < max(extent, cutoff):
            cell[d] = normal * (extent + 2.0 * cutoff)
    if abs(np.linalg.det(cell)) < 1e-9:
        # non-periodic rows were orthogonalised above; fall back to a bounding box
        cell = np.diag(np.maximum(np.ptp(pos, axis=0), 0.0) + 2.0 * cutoff)
        if pbc.any():
            raise InvalidSystemError("degenerate cell along a periodic direction: give a full-rank cell")
    return cell


def _pairs_matscipy(pos, cell, pbc, cutoff) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    import matscipy.neighbours as mn

    if len(pos) == 1 and not pbc.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64)
    work = _working_cell(pos, cell, pbc, cutoff)
    if pbc.all():
        shifted = pos
    else:
        # matscipy bins atoms inside the cell along open directions: move the lowest corner of
        # the atoms' bounding box to the origin (a rigid translation changes no distance/shift)
        shifted = pos - pos.min(axis=0)
    i, j, S = mn.neighbour_list("ijS", positions=shifted, cell=work, pbc=pbc, cutoff=cutoff)
    return i.astype(np.int64), j.astype(np.int64), S.astype(np.int64)


def _pairs_reference(pos, cell, pbc, cutoff) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute force over all images within reach (readable reference for tests)."""
    n_rep = np.zeros(3, dtype=np.int64)
    if pbc.any():
        inv = np.linalg.inv(_working_cell(pos, cell, pbc, cutoff))
        # distance between lattice planes normal to each vector = 1 / |column of inverse|
        heights = 1.0 / np.linalg.norm(inv, axis=0)
        n_rep = np.where(pbc, np.ceil(cutoff / heights).astype(np.int64), 0)
    rng = [np.arange(-n, n + 1) for n in n_rep]
    shifts = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = shifts @ cell
    d = pos[None, :, None, :] + offsets[None, None, :, :] - pos[:, None, None, :]  # (i, j, S, 3)
    r = np.linalg.norm(d, axis=-1)
    mask = r < cutoff
    zero = np.all(shifts == 0, axis=1)
    idx = np.arange(len(pos))
    mask[idx, idx, :] &= ~zero[None, :]
    i, j, s = np.nonzero(mask)
    return i.astype(np.int64), j.astype(np.int64), shifts[s].astype(np.int64)
