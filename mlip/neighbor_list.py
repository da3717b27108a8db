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


def _periodic_basis(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """A full-rank basis that depends on the cell and ``pbc`` only, never on the positions:
    periodic rows are the lattice vectors as given; non-periodic rows are unit vectors
    orthogonal to the periodic rows and to each other. Fractional coordinates along periodic
    axes then change by exactly the integers of a lattice translation, and coordinates along
    open axes are plain distances (Å) that no lattice translation changes."""
    cell = np.asarray(cell, dtype=np.float64)
    per = [d for d in range(3) if pbc[d]]
    non = [d for d in range(3) if not pbc[d]]
    degenerate = InvalidSystemError(
        "degenerate cell along a periodic direction: give a full-rank cell (periodic lattice vectors must be "
        "non-zero and linearly independent)"
    )
    basis = np.zeros((3, 3))
    for d in per:
        basis[d] = cell[d]
    lengths = [float(np.linalg.norm(cell[d])) for d in per]
    if any(not (length > 0.0 and math.isfinite(length)) for length in lengths):
        raise degenerate
    if len(per) == 3:
        if abs(float(np.linalg.det(basis))) <= 1e-12 * lengths[0] * lengths[1] * lengths[2]:
            raise degenerate
    elif len(per) == 2:
        normal = np.cross(cell[per[0]], cell[per[1]])
        if np.linalg.norm(normal) <= 1e-12 * lengths[0] * lengths[1]:
            raise degenerate
        basis[non[0]] = normal / np.linalg.norm(normal)
    elif len(per) == 1:
        a = cell[per[0]] / lengths[0]
        axis = np.eye(3)[int(np.argmin(np.abs(a)))]  # the Cartesian axis least aligned with a
        u = np.cross(a, axis)
        u /= np.linalg.norm(u)
        basis[non[0]] = u
        basis[non[1]] = np.cross(a, u)
    else:
        basis = np.eye(3)
    return basis


def _wrap_periodic(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions moved into the cell along the periodic axes: ``(wrapped, n, basis)`` with
    ``pos = wrapped + n @ cell`` (n integer (n_atoms, 3), zero along open axes) and
    ``basis`` = :func:`_periodic_basis`, in which the wrapped fractional coordinates lie in
    [0, 1] along periodic axes. A pair found between wrapped atoms with shift S' has the
    shift S = S' + n_i − n_j between the original ones (r_ij = r_j − r_i + S @ cell)."""
    basis = _periodic_basis(cell, pbc)
    n = np.zeros(pos.shape, dtype=np.int64)
    if len(pos) == 0 or not pbc.any():
        return pos, n, basis
    frac = pos @ np.linalg.inv(basis)
    # non-finite or absurdly far positions are left as they are (validation reports them)
    ok = np.isfinite(frac) & (np.abs(frac) < 2.0**52)
    n = np.where(pbc[None, :] & ok, np.floor(np.where(ok, frac, 0.0)), 0.0).astype(np.int64)
    wrapped = pos - n.astype(np.float64) @ basis  # periodic rows of basis = cell rows; n = 0 elsewhere
    return wrapped, n, basis


def _working_cell(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> np.ndarray:
    """A non-degenerate cell for binning: the periodic rows of ``cell`` kept; each non-periodic
    row the unit vector of :func:`_periodic_basis` (orthogonal to the periodic rows) scaled to
    the atoms' extent along it plus twice the cutoff (such rows only bin atoms)."""
    work = _periodic_basis(cell, pbc)
    for d in range(3):
        if not pbc[d]:
            extent = float(np.ptp(pos @ work[d])) if len(pos) else 0.0
            work[d] = work[d] * (extent + 2.0 * cutoff)
    return work


def _pairs_matscipy(pos, cell, pbc, cutoff) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    import matscipy.neighbours as mn

    if len(pos) == 1 and not pbc.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64)
    wrapped, n, _ = _wrap_periodic(pos, cell, pbc)
    work = _working_cell(wrapped, cell, pbc, cutoff)
    if not pbc.all():
        # matscipy bins atoms inside the cell along open axes: a rigid translation along them
        # (it changes no distance and no shift) puts the atoms at fractional coordinates in
        # [c/L, 1 - c/L] there (L = extent + 2c, the working row's length)
        frac = wrapped @ np.linalg.inv(work)
        for d in range(3):
            if not pbc[d]:
                frac[:, d] += cutoff / np.linalg.norm(work[d]) - frac[:, d].min()
        wrapped = frac @ work
    i, j, S = mn.neighbour_list("ijS", positions=wrapped, cell=work, pbc=pbc, cutoff=cutoff)
    i, j = i.astype(np.int64), j.astype(np.int64)
    return i, j, S.astype(np.int64) + n[i] - n[j]


def _pairs_reference(pos, cell, pbc, cutoff) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute force over all images within reach (readable reference for tests).

    Atoms are first wrapped into the cell along periodic axes (:func:`_wrap_periodic`), so the
    images to search do not depend on how far atoms have drifted: along periodic axis d with
    lattice-plane spacing h_d, a pair closer than the cutoff c has |Δf_d + S_d| < c / h_d, where
    Δf_d is the difference of the wrapped fractional coordinates (|Δf_d| <= their spread)."""
    wrapped, n, basis = _wrap_periodic(pos, cell, pbc)
    n_rep = np.zeros(3, dtype=np.int64)
    if pbc.any() and len(pos):
        inv = np.linalg.inv(basis)
        heights = 1.0 / np.linalg.norm(inv, axis=0)  # distance between lattice planes
        spread = np.ptp(wrapped @ inv, axis=0)
        # largest |S| with |S| < c/h + spread (a hair of margin against round-off)
        reach = np.ceil(cutoff / heights + spread + 1e-9).astype(np.int64) - 1
        n_rep = np.where(pbc, np.maximum(reach, 0), 0)
    rng = [np.arange(-k, k + 1) for k in n_rep]
    shifts = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = shifts @ cell
    d = wrapped[None, :, None, :] + offsets[None, None, :, :] - wrapped[:, None, None, :]  # (i, j, S, 3)
    r = np.linalg.norm(d, axis=-1)
    mask = r < cutoff
    zero = np.all(shifts == 0, axis=1)
    idx = np.arange(len(pos))
    mask[idx, idx, :] &= ~zero[None, :]
    i, j, s = np.nonzero(mask)
    return i.astype(np.int64), j.astype(np.int64), (shifts[s] + n[i] - n[j]).astype(np.int64)
