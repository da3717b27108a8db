"""Conversion between ``ase.Atoms`` and :class:`~mlip.types.System` (same units: Å)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np
import torch

from mlip.errors import InvalidSystemError
from mlip.types import System


def system_from_atoms(
    atoms: Union["ase.Atoms", Sequence["ase.Atoms"]],
    dtype: torch.dtype = torch.float64,
    device: Union[str, torch.device] = "cpu",
) -> System:
    """Batch one or several ``ase.Atoms`` into a ``System`` (positions and cell in Å).

    Example:
        >>> import ase.build, torch
        >>> s = system_from_atoms(ase.build.molecule("H2O"))
        >>> tuple(s.positions.shape), s.positions.dtype
        ((3, 3), torch.float64)
    """
    import ase

    frames: List[ase.Atoms] = [atoms] if isinstance(atoms, ase.Atoms) else list(atoms)
    if len(frames) == 0:
        raise InvalidSystemError("no structures given: pass at least one ase.Atoms")
    pos = np.concatenate([a.get_positions() for a in frames], axis=0)
    z = np.concatenate([a.get_atomic_numbers() for a in frames])
    cell = np.stack([np.asarray(a.get_cell()[:], dtype=np.float64) for a in frames])
    pbc = np.stack([np.asarray(a.get_pbc(), dtype=bool) for a in frames])
    sidx = np.concatenate([np.full(len(a), k, dtype=np.int64) for k, a in enumerate(frames)])
    charges = [stated_total_charge(a) for a in frames]
    return System(
        positions=torch.as_tensor(pos, dtype=dtype, device=device),
        atomic_numbers=torch.as_tensor(z, dtype=torch.int64, device=device),
        cell=torch.as_tensor(cell, dtype=dtype, device=device),
        pbc=torch.as_tensor(pbc, dtype=torch.bool, device=device),
        system_index=torch.as_tensor(sidx, dtype=torch.int64, device=device),
        total_charge=None if all(q is None for q in charges) else torch.as_tensor([q or 0.0 for q in charges], dtype=dtype, device=device),
    )


def stated_total_charge(atoms) -> Optional[float]:
    """Total charge (e) stated for ``atoms``: ``info["total_charge"]`` or ``info["charge"]``, else
    the sum of non-zero initial charges (the ASE convention), else None (neutral)."""
    for key in ("total_charge", "charge"):
        if key in atoms.info:
            return float(atoms.info[key])
    if atoms.has("initial_charges"):
        q = float(np.sum(atoms.get_initial_charges()))
        if q != 0.0:
            return q
    return None


def atoms_from_system(system: System, positions: Optional[torch.Tensor] = None) -> list:
    """Split a ``System`` back into a list of ``ase.Atoms`` (optionally with other positions)."""
    import ase

    pos = (system.positions if positions is None else positions).detach().cpu().double().numpy()
    z = system.atomic_numbers.cpu().numpy()
    sidx = system.system_index.cpu().numpy()
    out = []
    for s in range(system.cell.shape[0]):
        m = sidx == s
        out.append(
            ase.Atoms(
                numbers=z[m],
                positions=pos[m],
                cell=system.cell[s].detach().cpu().double().numpy(),
                pbc=system.pbc[s].cpu().numpy(),
            )
        )
    return out
