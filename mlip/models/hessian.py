"""Hessians ∂²E/∂r∂r (eV/Å²) by double backward through the single autograd wrapper."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mlip.neighbor_list import neighbor_list
from mlip.types import System


def hessian(potential, system: System, total_charge: Optional[float] = None, create_graph: bool = False) -> Tensor:
    """(3 n_atoms, 3 n_atoms) Hessian of the total energy, eV/Å², for a small system.

    The neighbour list is built once at ``system``; row k is −∂F_k/∂r. Cost: 3 n_atoms
    backward passes. Used for vibrational frequencies.

    Args:
        potential: an mlip Potential (or any ``(system, edges, compute_stress, create_graph)``
            callable with ``cutoff`` and ``dtype``).
        system: one structure, Å. Its ``total_charge`` (e) is kept, so a charged system has the
            Hessian of the same energy the calculator and md report.
        total_charge: total charge in e, overriding ``system.total_charge`` (None: keep it;
            a system without a stated total charge is neutral).
        create_graph: keep the graph, so the Hessian is differentiable with respect to the
            weights (property targets in training); default False returns it detached.
    """
    dtype = potential.dtype
    pos = system.positions.detach().to(dtype).clone().requires_grad_(True)
    charge = system.total_charge
    if total_charge is not None:
        charge = torch.full((system.cell.shape[0],), float(total_charge), dtype=dtype, device=pos.device)
    elif charge is not None:
        charge = charge.to(dtype)
    sys = System(pos, system.atomic_numbers, system.cell.to(dtype), system.pbc, system.system_index, charge)
    edges = neighbor_list(sys, potential.cutoff)
    forces = potential(sys, edges, compute_stress=False, create_graph=True).forces.reshape(-1)
    rows = []
    for k in range(forces.numel()):
        (g,) = torch.autograd.grad(forces[k], pos, retain_graph=True, create_graph=create_graph)
        rows.append(-g.reshape(-1))
    h = torch.stack(rows)
    return h if create_graph else h.detach()
