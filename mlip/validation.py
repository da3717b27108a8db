"""Input validation at public boundaries (data IO, calculator, md.run, export).

Never called inside the compiled model. Every failure raises an :class:`~mlip.errors.MLIPError`
subclass whose message names the problem and the fix.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from mlip.errors import InvalidSystemError, UnknownElementError
from mlip.types import System

#: Smallest allowed |det(cell)| per periodic system, Å^3 (below: degenerate cell).
MIN_CELL_VOLUME_A3 = 1e-6

_CHEMICAL_SYMBOLS = None


def chemical_symbol(z: int) -> str:
    """Chemical symbol of atomic number ``z`` (from ASE's table)."""
    global _CHEMICAL_SYMBOLS
    if _CHEMICAL_SYMBOLS is None:
        from ase.data import chemical_symbols

        _CHEMICAL_SYMBOLS = chemical_symbols
    return _CHEMICAL_SYMBOLS[z] if 0 < z < len(_CHEMICAL_SYMBOLS) else f"Z={z}"


def validate_system(system: System, known_atomic_numbers: Optional[Sequence[int]] = None) -> None:
    """Check shapes, dtypes and physical sanity of a ``System``; raise a clear error if bad.

    Args:
        system: the batched structures (positions Å, cell Å).
        known_atomic_numbers: if given, every atomic number must be among these
            (the elements a potential was trained on).

    Raises:
        InvalidSystemError: empty structure, wrong shapes/dtypes, non-finite positions or cell,
            degenerate cell along periodic directions, unsorted ``system_index``.
        UnknownElementError: an element outside ``known_atomic_numbers``.
    """
    pos, z, cell, pbc, sidx = system.positions, system.atomic_numbers, system.cell, system.pbc, system.system_index
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InvalidSystemError(f"positions must have shape (n_atoms, 3), got {tuple(pos.shape)}")
    n_atoms = pos.shape[0]
    if n_atoms == 0:
        raise InvalidSystemError("the structure is empty (0 atoms): give at least one atom")
    if not pos.dtype.is_floating_point:
        raise InvalidSystemError(f"positions must be floating point, got {pos.dtype}")
    if z.shape != (n_atoms,) or z.dtype != torch.int64:
        raise InvalidSystemError(
            f"atomic_numbers must be int64 of shape ({n_atoms},), got {z.dtype} {tuple(z.shape)}"
        )
    if sidx.shape != (n_atoms,) or sidx.dtype != torch.int64:
        raise InvalidSystemError(f"system_index must be int64 of shape ({n_atoms},)")
    if cell.ndim != 3 or cell.shape[1:] != (3, 3):
        raise InvalidSystemError(f"cell must have shape (n_systems, 3, 3), got {tuple(cell.shape)}")
    n_sys = cell.shape[0]
    if pbc.shape != (n_sys, 3) or pbc.dtype != torch.bool:
        raise InvalidSystemError(f"pbc must be bool of shape ({n_sys}, 3), got {pbc.dtype} {tuple(pbc.shape)}")
    if bool((sidx[1:] < sidx[:-1]).any()) or int(sidx.min()) < 0 or int(sidx.max()) >= n_sys:
        raise InvalidSystemError("system_index must be sorted and within [0, n_systems)")
    counts = torch.bincount(sidx, minlength=n_sys)
    if bool((counts == 0).any()):
        empty = int(torch.nonzero(counts == 0)[0])
        raise InvalidSystemError(f"system {empty} of the batch has no atoms")
    bad = ~torch.isfinite(pos).all(dim=1)
    if bool(bad.any()):
        atom = int(torch.nonzero(bad)[0])
        raise InvalidSystemError(
            f"positions of atom {atom} are not finite ({pos[atom].tolist()}): NaN or inf coordinates; "
            "check the input structure (or the MD run that produced it)"
        )
    if not bool(torch.isfinite(cell).all()):
        raise InvalidSystemError("cell contains NaN or inf")
    q = system.total_charge
    if q is not None and (q.shape != (n_sys,) or not bool(torch.isfinite(q).all())):
        raise InvalidSystemError(f"total_charge must be a finite tensor of shape ({n_sys},) in e, or None (neutral)")
    if bool(((z < 1) | (z > 118)).any()):
        bad_z = int(z[(z < 1) | (z > 118)][0])
        raise InvalidSystemError(f"atomic number {bad_z} is not a chemical element (1..118)")
    for s in range(n_sys):
        periodic = pbc[s]
        if bool(periodic.any()):
            vol = abs(float(torch.linalg.det(cell[s].double())))
            lengths = torch.linalg.norm(cell[s].double(), dim=1)
            if bool((lengths[periodic] < 1e-8).any()) or vol < MIN_CELL_VOLUME_A3:
                raise InvalidSystemError(
                    f"system {s}: the cell is degenerate (volume {vol:.3g} Å^3, lattice vector lengths "
                    f"{[round(float(x), 4) for x in lengths]} Å) but pbc={periodic.tolist()}; give three "
                    "linearly independent lattice vectors or set pbc=False"
                )
    if known_atomic_numbers is not None:
        known = torch.tensor(sorted(set(int(k) for k in known_atomic_numbers)), dtype=torch.int64)
        unknown = z[~torch.isin(z, known.to(z.device))]
        if unknown.numel() > 0:
            names = sorted({chemical_symbol(int(u)) for u in unknown.unique()})
            allowed = [chemical_symbol(int(k)) for k in known]
            raise UnknownElementError(
                f"element(s) {names} not known to this potential (it knows {allowed}); "
                "use a potential trained on these elements or fine-tune one"
            )


def check_min_distance(system: System, edges, min_distance_A: float) -> None:
    """Raise if two atoms are closer than ``min_distance_A`` (Å) — overlapping atoms.

    ``edges`` must come from a neighbour list with cutoff >= ``min_distance_A``.
    """
    from mlip.types import edge_vectors

    if edges.index.shape[1] == 0:
        return
    d = torch.linalg.norm(edge_vectors(system, edges).detach(), dim=1)
    k = int(torch.argmin(d))
    if float(d[k]) < min_distance_A:
        i, j = int(edges.index[0, k]), int(edges.index[1, k])
        raise InvalidSystemError(
            f"atoms {i} and {j} overlap (distance {float(d[k]):.3g} Å < {min_distance_A} Å); "
            "remove duplicate atoms or fix the coordinates"
        )
