"""Hessians ∂²E/∂r∂r (eV/Å²) by double backward through the single autograd wrapper."""
from __future__ import annotations

import torch
from torch import Tensor

from mlip.neighbor_list import neighbor_list
from mlip.types import System


def hessian(potential, system: System) -> Tensor:
    """(3 n_atoms, 3 n_atoms) Hessian of the total energy, eV/Å², for a small system.

    The neighbour list is built once at ``system``; row k is −∂F_k/∂r. Cost: 3 n_atoms
    backward passes. Used for vibrational frequencies.
    """
    pos = system.positions.detach().to(potential.dtype).clone().requires_grad_(True)
    sys = System(pos, system.atomic_numbers, system.cell.to(potential.dtype), system.pbc, system.system_index)
    edges = neighbor_list(sys, potential.cutoff)
    forces = potential(sys, edges, compute_stress=False, create_graph=True).forces.reshape(-1)
    rows = []
    for k in range(forces.numel()):
        (g,) = torch.autograd.grad(forces[k], pos, retain_graph=True)
        rows.append(-g.reshape(-1))
    return torch.stack(rows).detach()
