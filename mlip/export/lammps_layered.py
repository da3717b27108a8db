"""Layer-by-layer evaluation for LAMMPS: ghost atoms one cutoff deep, node features exchanged
between MPI ranks once per message-passing layer.

The whole-graph path (:mod:`mlip.export.lammps_module`) needs ghost atoms out to the receptive
field, ``n_layers · cutoff``: with 4 layers of 5 Å, a rank of 4,000 atoms carries several times
as many ghosts, and each of them is computed. Here each rank keeps ghosts one cutoff (+ skin)
deep only and LAMMPS's own communication completes them between layers:

* ``x_0 = embed(Z)`` on every local and ghost atom (it depends on the species only);
* layer ``k``: ``x_{k+1}[local] = layer(k, x_k[local + ghost], edges)`` with edges whose receiver
  is local (senders local or ghost); then, except after the last layer (the readout needs local
  features only), a *forward* communication copies each owner's ``x_{k+1}`` to its ghost copies
  (on this rank or others): ``n_layers - 1`` forward and as many reverse communications per step;
* ``E = Σ_{local} ε_i(x_L)`` plus pair terms (ZBL, LJ, ...) on the same edges.

The backward pass runs the layers in reverse: ``∂E/∂x_{k+1}`` on ghost rows is sent back to the
owners by a *reverse* communication and summed there, then pulled through layer ``k``. All
geometry enters through the edge vectors ``r_e = r_j - r_i`` (n_edges, 3), an input here; the
driver turns ``g_e = ∂E/∂r_e`` into forces ``F_i += g_e``, ``F_j -= g_e`` (ghost forces go back to
their owners through LAMMPS's usual force communication), the global virial (``Σ r ⊗ F``,
LAMMPS's fdotr) and per-atom virials (``-½ r_e ⊗ g_e`` to each end of the edge).

:func:`evaluate_with_exchange` is the reference driver (Python, ghosts as copies of owned atoms,
as on one rank); ``cuda/lammps/mlip_model.cpp`` does the same in C++ with LAMMPS's
communication. Supported: networks without charges (single models, committees, frozen
potentials, multi-fidelity) plus pair terms; Coulomb models keep the whole-graph path on one rank.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from mlip.layered import LayeredModel


def evaluate_with_exchange(module, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor, n_local: int,
                           owner: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Reference driver of the layered methods, as ``pair_style mlip`` runs them on one rank.

    Args:
        module: a :class:`LayeredModel` (eager or TorchScript, or an exported module's
            ``exchange_*`` methods through :class:`_Exported`).
        positions: (n_atoms, 3) local then ghost atoms, Å.
        atomic_numbers: (n_atoms,).
        edge_index: (2, n_edges) receivers (all local) and senders.
        n_local: number of owned atoms (the first rows).
        owner: (n_atoms,) index of the owned atom each atom is a copy of (``owner[i] = i`` for local).

    Returns:
        energy (0-d, eV), forces (n_atoms, 3) on local and ghost atoms (eV/Å; ghost forces still
        to be added to their owners), edge gradients ``∂E/∂r_e`` (n_edges, 3), eV/Å.
    """
    m = _Exported(module)
    ghosts = torch.arange(n_local, positions.shape[0], device=positions.device)
    vec = (positions[edge_index[1]] - positions[edge_index[0]]).detach().requires_grad_(True)
    geo = m.geometry(vec)
    x = m.embed(atomic_numbers).detach()
    last = len(m.feature_dims()) - 2
    inputs: List[Tensor] = []
    outputs: List[Tensor] = []
    for k in range(last + 1):
        xin = x.detach().requires_grad_(k > 0)
        out = m.layer(k, xin, atomic_numbers, geo, edge_index, n_local)
        inputs.append(xin)
        outputs.append(out)
        if k < last:  # forward communication; the last layer's features stay local (the readout's)
            x = torch.cat([out.detach(), out.detach()[owner[ghosts]]])
    xin = outputs[last].detach().requires_grad_(True)
    energy = m.energy(xin, atomic_numbers, vec, edge_index, n_local).sum()
    g_x, g_vec = torch.autograd.grad(energy, [xin, vec], allow_unused=True)
    g_vec = torch.zeros_like(vec) if g_vec is None else g_vec
    g_geo = [torch.zeros_like(t) for t in geo]
    for k in range(last, -1, -1):
        if k < last:  # gradients of ghost rows back to their owners (reverse communication)
            g_x = _reverse(g_x, owner, ghosts, n_local)
        wrt = ([inputs[k]] if k > 0 else []) + list(geo)
        grads = torch.autograd.grad([outputs[k]], wrt, [g_x], retain_graph=True, allow_unused=True)
        for a, g in enumerate(grads[len(grads) - len(geo):]):
            if g is not None:
                g_geo[a] = g_geo[a] + g
        g_x = grads[0] if k > 0 else None
    g_vec = g_vec + torch.autograd.grad(geo, [vec], g_geo, allow_unused=True)[0]
    forces = torch.zeros_like(positions).index_add(0, edge_index[0], g_vec).index_add(0, edge_index[1], -g_vec)
    return energy.detach(), forces, g_vec


def evaluate_with_exchange_in_blocks(module, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor,
                                     n_local: int, owner: Tensor, max_edges: int) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`evaluate_with_exchange` with bounded memory, as ``pair_style mlip max_edges N`` runs it
    when a rank has more than N edges: the local receivers in blocks of at most ``max_edges``
    edges (:func:`mlip.layered.receiver_blocks`); layers ``0 .. L-2`` first without a graph
    (features only, exchanged after each layer), then the last layer and the readout block by
    block with a graph, then the earlier layers recomputed block by block, in reverse, each
    pulled back with the reverse-communicated feature gradients (see
    :mod:`mlip.chunked_evaluation`, the same algorithm without ghosts). Same returns."""
    m = _Exported(module)
    n_atoms = positions.shape[0]
    ghosts = torch.arange(n_local, n_atoms, device=positions.device)
    vec_all = (positions[edge_index[1]] - positions[edge_index[0]]).detach()
    dims = m.feature_dims()
    last = len(dims) - 2
    blocks = [(int(bd[0]), int(bd[1]), ids, atoms, local) for bd, ids, atoms, local in m.blocks(edge_index, n_local, max_edges)]
    with torch.no_grad():
        feats = [m.embed(atomic_numbers)]
        for k in range(last):
            rows = vec_all.new_zeros((n_atoms, dims[k + 1]))
            for a, b, ids, atoms, local in blocks:
                rows[a:b] = m.layer(k, feats[k][atoms], atomic_numbers[atoms], m.geometry(vec_all[ids]), local, b - a)
            rows[n_local:] = rows[owner[ghosts]]  # forward communication
            feats.append(rows)
    g_vec = torch.zeros_like(vec_all)
    energy = vec_all.new_zeros(())
    g_x = vec_all.new_zeros((n_atoms, dims[last]))
    for a, b, ids, atoms, local in blocks:
        xin = feats[last][atoms].requires_grad_(last > 0)
        vec = vec_all[ids].requires_grad_(True)
        z = atomic_numbers[atoms]
        e = m.energy(m.layer(last, xin, z, m.geometry(vec), local, b - a), z, vec, local, b - a).sum()
        grads = torch.autograd.grad([e], [vec, xin] if last > 0 else [vec], allow_unused=True)
        g_vec.index_add_(0, ids, grads[0])
        if last > 0:
            g_x.index_add_(0, atoms, grads[1])
        energy = energy + e.detach()
    for k in range(last - 1, -1, -1):
        g_out = _reverse(g_x, owner, ghosts, n_local)
        g_x = vec_all.new_zeros((n_atoms, dims[k]))
        for a, b, ids, atoms, local in blocks:
            xin = feats[k][atoms].requires_grad_(k > 0)
            vec = vec_all[ids].requires_grad_(True)
            out = m.layer(k, xin, atomic_numbers[atoms], m.geometry(vec), local, b - a)
            grads = torch.autograd.grad([out], [vec, xin] if k > 0 else [vec], [g_out[a:b]], allow_unused=True)
            g_vec.index_add_(0, ids, grads[0])
            if k > 0:
                g_x.index_add_(0, atoms, grads[1])
    forces = torch.zeros_like(positions).index_add(0, edge_index[0], g_vec).index_add(0, edge_index[1], -g_vec)
    return energy, forces, g_vec


def _reverse(g: Tensor, owner: Tensor, ghosts: Tensor, n_local: int) -> Tensor:
    """Reverse communication: ghost rows' gradients added to their owners; the local rows."""
    return g[:n_local].index_add(0, owner[ghosts], g[ghosts])


class _Exported:
    """Uniform access to the layered methods of a LayeredModel or an exported module."""

    def __init__(self, module):
        self._m = module
        self._prefix = "exchange_" if hasattr(module, "exchange_embed") else ""

    def __getattr__(self, name):
        return getattr(self._m, self._prefix + name)


class ExchangeModel(nn.Module):
    """What the exported file holds when the model supports feature exchange: the whole-graph
    module as ``forward`` (the fallback) and the layered methods as ``exchange_*``."""

    def __init__(self, full: nn.Module, layered: LayeredModel):
        super().__init__()
        self.full = full
        self.layered = layered

    def forward(
        self, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor, n_local: int, compute_atom_virial: bool,
        cell: Tensor, pbc: Tensor, total_charge: float,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return self.full(positions, atomic_numbers, edge_index, n_local, compute_atom_virial, cell, pbc, total_charge)

    @torch.jit.export
    def exchange_feature_dims(self) -> List[int]:
        return self.layered.feature_dims()

    @torch.jit.export
    def exchange_blocks(self, edge_index: Tensor, n_receivers: int, max_edges: int) -> List[List[Tensor]]:
        return self.layered.blocks(edge_index, n_receivers, max_edges)

    @torch.jit.export
    def exchange_embed(self, atomic_numbers: Tensor) -> Tensor:
        return self.layered.embed(atomic_numbers)

    @torch.jit.export
    def exchange_geometry(self, vec: Tensor) -> List[Tensor]:
        return self.layered.geometry(vec)

    @torch.jit.export
    def exchange_layer(self, k: int, x: Tensor, atomic_numbers: Tensor, geometry: List[Tensor], edge_index: Tensor,
                       n_local: int) -> Tensor:
        return self.layered.layer(k, x, atomic_numbers, geometry, edge_index, n_local)

    @torch.jit.export
    def exchange_energy(self, x: Tensor, atomic_numbers: Tensor, vec: Tensor, edge_index: Tensor, n_local: int) -> Tensor:
        return self.layered.energy(x, atomic_numbers, vec, edge_index, n_local)
