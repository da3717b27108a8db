"""The ONE autograd wrapper: energy terms -> energy, forces and stress.

Every torch energy term (the equivariant network, ZBL/LJ baselines, Coulomb) returns per-atom
energies; this module sums them per system and differentiates once:

    F_i = −∂E/∂r_i                       (eV/Å)
    σ   = (1/V) ∂E/∂ε |_{ε=0}           (eV/Å³; ASE sign: negative under compression)

where the symmetric strain ε deforms positions and cell together, r → r (1 + ε), h → h (1 + ε).
Because forces are exact gradients of one scalar, they are conservative and Σ_i F_i = 0 for
translation-invariant terms. Systems without a cell (V = 0) get zero stress.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor, nn

from mlip.types import Edges, Prediction, System


class ForceModel(nn.Module):
    """Sum of energy terms with forces and stress by autograd.

    Args:
        terms: modules with ``forward(system, edges) -> (n_atoms,)`` atomic energies in eV.
    """

    def __init__(self, terms: List[nn.Module]):
        super().__init__()
        self.terms = nn.ModuleList(terms)

    def atomic_energies(self, system: System, edges: Edges) -> Tensor:
        """(n_atoms,) sum of all terms' atomic energies, eV (no derivatives)."""
        e = torch.zeros_like(system.positions[:, 0])
        for term in self.terms:
            e = e + term(system, edges)
        return e

    def forward(
        self,
        system: System,
        edges: Edges,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool = False,
    ) -> Prediction:
        """Energy (n_systems,) eV, forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å³.

        ``create_graph=True`` keeps the graph of forces/stress (training on forces, Hessians).
        If ``system.positions`` already requires grad it is differentiated directly.
        """
        positions = system.positions
        if (compute_forces or compute_stress) and not positions.requires_grad:
            positions = positions.detach().requires_grad_(True)
        cell = system.cell
        n_sys = cell.shape[0]
        strain: Optional[Tensor] = None
        if compute_stress:
            strain_leaf = torch.zeros((n_sys, 3, 3), dtype=positions.dtype, device=positions.device).requires_grad_(True)
            strain = strain_leaf
            sym = 0.5 * (strain_leaf + strain_leaf.transpose(1, 2))
            positions_used = positions + torch.bmm(positions.unsqueeze(1), sym[system.system_index]).squeeze(1)
            cell = cell + torch.bmm(cell, sym)
        else:
            positions_used = positions
        strained = System(positions_used, system.atomic_numbers, cell, system.pbc, system.system_index, system.total_charge)
        atomic = self.atomic_energies(strained, edges)
        energy = torch.zeros((n_sys,), dtype=atomic.dtype, device=atomic.device).index_add(0, system.system_index, atomic)
        forces = torch.zeros_like(system.positions)
        stress: Optional[Tensor] = None
        if compute_forces or compute_stress:
            inputs: List[Tensor] = [positions]
            if strain is not None:
                inputs.append(strain)
            grads = torch.autograd.grad(
                [energy.sum()], inputs, create_graph=create_graph, allow_unused=True
            )
            g_pos = grads[0]
            if g_pos is not None:
                forces = -g_pos
            if strain is not None:
                g_strain = grads[1]
                if g_strain is None:
                    g_strain = torch.zeros_like(strain)
                volume = torch.abs(torch.linalg.det(system.cell))
                safe = torch.where(volume > 0, volume, torch.ones_like(volume))
                stress = torch.where((volume > 0).view(-1, 1, 1), g_strain / safe.view(-1, 1, 1), torch.zeros_like(g_strain))
        if not create_graph:
            energy = energy.detach()
            atomic = atomic.detach()
        return Prediction(energy=energy, forces=forces, stress=stress, atomic_energies=atomic)
