"""The TorchScript module ``pair_style mlip`` calls (see :mod:`mlip.export.lammps`).

For one MPI rank's atoms (``n_local`` owned atoms first, then ghost atoms, as LAMMPS stores them):

* edges: a full list over local AND ghost atoms, ghosts explicit, so every image shift is 0 and
  ``r_ij = r_j - r_i``;
* ``E = Σ_{i < n_local} ε_i``: only owned atoms' energies count (a ghost's energy belongs to the
  rank that owns it, and its environment is truncated anyway);
* Coulomb terms (learned charges, point charges) act on the local atoms in LAMMPS's box
  (``cell`` rows a, b, c in Å, ``pbc``, ``total_charge`` in e): direct sum for a non-periodic
  box, Ewald for a fully periodic one. Exact only when the local atoms are all the atoms (one
  MPI rank), which the pair style enforces (:mod:`mlip.export.lammps_terms`);
* ``F_k = -∂E/∂r_k`` for every local and ghost atom ``k``; LAMMPS (``newton pair on``) sums the
  ghost forces back onto their owners;
* global virial: LAMMPS computes ``Σ_k r_k ⊗ F_k`` over local and ghost atoms (``fdotr``); that
  misses only the Coulomb energy's explicit dependence on the cell, returned here as
  ``cell_virial = -∂E/∂ε`` for a deformation h → h (1 + ε) of the cell alone (eV; zero without
  a periodic Coulomb term), which the pair style adds;
* per-atom virial (optional): with ``g_e = ∂E/∂r_e`` for edge ``e = (i, j)``, each edge adds
  ``-½ r_e ⊗ g_e`` to atoms ``i`` and ``j`` (components xx, yy, zz, xy, xz, yz; ``xy = r_x g_y``,
  LAMMPS's order); the Coulomb energy's virial at fixed charges,
  ``W_c = -Σ_i x_i ⊗ ∂E/∂x_i|_q + cell_virial`` (x: the box positions), is shared equally by
  the local atoms (a convention: Ewald energies have no unique per-atom virial). The per-atom
  virials sum to the global virial.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from mlip.types import Edges, System


def _six(m: Tensor) -> Tensor:
    """(…, 3, 3) -> (…, 6) in LAMMPS's order xx yy zz xy xz yz."""
    return torch.stack([m[..., 0, 0], m[..., 1, 1], m[..., 2, 2], m[..., 0, 1], m[..., 0, 2], m[..., 1, 2]], dim=-1)


def pair_atom_virial(vec: Tensor, grad: Tensor, index: Tensor, n_atoms: int) -> Tensor:
    """(n_atoms, 6) eV: each pair or edge ``p = (i, j)`` with vector ``vec_p`` (Å) and ``grad_p =
    ∂E/∂vec_p`` (eV/Å) adds ``-½ vec_p ⊗ grad_p`` to atom i and to atom j (``index`` (2, n_p))."""
    w = -0.5 * _six(vec.unsqueeze(2) * grad.unsqueeze(1))
    out = torch.zeros((n_atoms, 6), dtype=vec.dtype, device=vec.device)
    return out.index_add(0, index[0], w).index_add(0, index[1], w)


class LammpsModel(nn.Module):
    """The deployed module: ``forward(positions, atomic_numbers, edge_index, n_local,
    compute_atom_virial, cell, pbc, total_charge) -> (energy, forces, atomic_energies,
    atom_virial, cell_virial)``.

    Args (of ``forward``):
        positions: (n_atoms, 3) local then ghost atoms, Å, in the model's dtype.
        atomic_numbers: (n_atoms,) int64.
        edge_index: (2, n_edges) int64 full list, [0] receiver i, [1] sender j, no images.
        n_local: the first ``n_local`` atoms are owned; only their energies are summed.
        compute_atom_virial: also return the (n_atoms, 6) per-atom virial (else (0, 6)).
        cell: (3, 3) LAMMPS box, rows a, b, c, Å (read only by Coulomb terms).
        pbc: (3,) bool periodicity of the box (Coulomb terms).
        total_charge: total charge of the local atoms, e (Coulomb terms).

    Returns:
        energy: 0-d, eV (sum over owned atoms); forces: (n_atoms, 3) eV/Å on all atoms;
        atomic_energies: (n_atoms,) eV (ghost entries are not meaningful);
        atom_virial: (n_atoms, 6) eV, order xx yy zz xy xz yz, or (0, 6);
        cell_virial: (6,) eV, the part of the global virial that ``Σ r ⊗ F`` misses.
    """

    def __init__(self, terms: List[nn.Module], has_box_terms: bool):
        super().__init__()
        self.terms = nn.ModuleList(terms)
        self.has_box_terms = has_box_terms

    def forward(
        self, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor, n_local: int, compute_atom_virial: bool,
        cell: Tensor, pbc: Tensor, total_charge: float,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        pos = positions.detach().requires_grad_(True)
        dtype, device = pos.dtype, pos.device
        n_atoms = pos.shape[0]
        delta = torch.zeros((edge_index.shape[1], 3), dtype=dtype, device=device)
        # box positions x = r_local + delta_box, cell h (1 + ε): dE/d(delta_box) is the explicit
        # (fixed-charge) Coulomb gradient, dE/dε_ab = Σ_c h_ca ∂E/∂h_cb the explicit cell
        # dependence. ε is NOT symmetrised: Σ r_a F_b alone is not symmetric, only its sum with
        # this cell term is (rotational invariance).
        delta_box = torch.zeros((n_local, 3), dtype=dtype, device=device)
        strain = torch.zeros((3, 3), dtype=dtype, device=device)
        periodic_box = self.has_box_terms and bool(pbc.any())
        if compute_atom_virial:
            # r_e = r_j - r_i + delta_e @ I: dE/d(delta_e) is dE/d(r_e) (Edges.shift is used as
            # a float offset with an identity "cell"; it stays exactly zero).
            delta.requires_grad_(True)
            if self.has_box_terms:
                delta_box.requires_grad_(True)
        if periodic_box:
            strain.requires_grad_(True)
        box_cell = cell.to(dtype) + cell.to(dtype) @ strain
        graph = System(
            pos,
            atomic_numbers,
            torch.eye(3, dtype=dtype, device=device).unsqueeze(0),
            torch.zeros((1, 3), dtype=torch.bool, device=device),
            torch.zeros((n_atoms,), dtype=torch.int64, device=device),
        )
        box = System(
            pos[:n_local] + delta_box,
            atomic_numbers[:n_local],
            box_cell.unsqueeze(0),
            pbc.to(torch.bool).reshape(1, 3),
            torch.zeros((n_local,), dtype=torch.int64, device=device),
            torch.full((1,), total_charge, dtype=dtype, device=device),
        )
        edges = Edges(edge_index, delta)
        atomic = torch.zeros_like(pos[:, 0])
        for term in self.terms:
            atomic = atomic + term(graph, edges, n_local, box)
        energy = atomic[:n_local].sum()
        forces = torch.zeros_like(pos)
        atom_virial = torch.zeros((0, 6), dtype=dtype, device=device)
        cell_virial = torch.zeros((6,), dtype=dtype, device=device)
        if compute_atom_virial:
            atom_virial = torch.zeros((n_atoms, 6), dtype=dtype, device=device)
        if energy.requires_grad:
            inputs: List[Tensor] = [pos]
            if compute_atom_virial:
                inputs.append(delta)
                if self.has_box_terms:
                    inputs.append(delta_box)
            if periodic_box:
                inputs.append(strain)
            grads = torch.autograd.grad([energy], inputs, allow_unused=True)
            g_pos = grads[0]
            if g_pos is not None:
                forces = -g_pos
            if periodic_box:
                g_strain: Optional[Tensor] = grads[len(grads) - 1]
                if g_strain is not None:
                    cell_virial = -_six(g_strain)
            if compute_atom_virial:
                g_edge = grads[1]
                if g_edge is None:
                    g_edge = torch.zeros_like(delta)
                vec = (pos[edge_index[1]] - pos[edge_index[0]]).detach()
                atom_virial = pair_atom_virial(vec, g_edge, edge_index, n_atoms)
                if self.has_box_terms and n_local > 0:
                    g_box = grads[2]
                    if g_box is None:
                        g_box = torch.zeros_like(delta_box)
                    x = pos[:n_local].detach()
                    coulomb = -_six((x.unsqueeze(2) * g_box.unsqueeze(1)).sum(0)) + cell_virial
                    share = (coulomb / n_local).unsqueeze(0).expand(n_local, 6)
                    atom_virial = torch.cat([atom_virial[:n_local] + share, atom_virial[n_local:]])
        return energy.detach(), forces.detach(), atomic.detach(), atom_virial.detach(), cell_virial.detach()
