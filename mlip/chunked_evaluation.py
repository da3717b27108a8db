"""Memory-bounded inference: energy, forces and stress of a large system in blocks of receivers.

One autograd pass over the whole graph keeps every per-edge intermediate of every layer alive
until the backward pass: about 0.25 MB per atom for ``cuau-emt``, so a 10⁶-atom system would
need ~250 GB. Here the receivers are cut into blocks of at most ``max_edges`` edges and the
model runs one layer at a time (:class:`mlip.layered.LayeredModel`):

1. forward, no graph kept: ``x_{k+1}[block] = layer_k(x_k[block + its senders])`` for every block
   and the layers ``0 .. L-2``; only the node features ``x_k`` (n_atoms × D_k) are stored;
2. last layer and readout, block by block, with a graph: ``∂E/∂x_{L-1}`` and ``∂E/∂r_e`` of the
   block's edges, then the graph is freed;
3. backward through the layers ``L-2 .. 0``: each block's layer is recomputed with a graph and
   pulled back with the block's rows of ``∂E/∂x_{k+1}``.

Peak memory is the node features plus one block's graph; the price is one more forward pass of
the first ``L-1`` layers. All geometry enters through the edge vectors ``r_e = r_j - r_i +
shift·h``; with ``g_e = ∂E/∂r_e``: ``F_i += g_e``, ``F_j -= g_e`` (eV/Å) and, per system,
``σ = sym(Σ_e r_e ⊗ g_e) / V`` (eV/Å³, ASE's sign; the same strain derivative as
:class:`mlip.models.force_model.ForceModel`, which this path is tested against). Inference
only (no ``create_graph``); models with Coulomb terms have no layered form and are evaluated
whole.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from mlip.layered import LayeredModel, layered_parts, receiver_blocks
from mlip.types import Edges, Prediction, System, edge_vectors

Block = Tuple[int, int, Tensor, Tensor, Tensor, Tensor]  # a, b, edge ids, atoms, their numbers, local edge_index


def chunked_prediction(force_model: nn.Module, system: System, edges: Edges, compute_stress: bool,
                       max_edges: int) -> Optional[Prediction]:
    """Energy (n_systems,) eV, forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å³ or None,
    atomic energies (n_atoms,) eV, computed in blocks of at most ``max_edges`` edges (a block
    holds at least one receiver, whatever its edge count). None if ``force_model`` has a term
    without a layered form (Coulomb): evaluate it whole."""
    parts = layered_parts(force_model)
    if parts is None:
        return None
    module = LayeredModel(*parts)
    n_atoms = system.positions.shape[0]
    z = system.atomic_numbers
    vec_all = edge_vectors(system, edges).detach()
    blocks: List[Block] = []
    for bounds, ids, atoms, local in receiver_blocks(edges.index, n_atoms, max_edges):
        blocks.append((int(bounds[0]), int(bounds[1]), ids, atoms, z[atoms], local))
    n_layers = module.n_layers
    with torch.no_grad():
        feats: List[Tensor] = [module.embed(z)]
        for k in range(n_layers - 1):
            nxt = vec_all.new_empty((n_atoms, module.dims[k + 1]))
            for a, b, ids, atoms, zb, ei in blocks:
                geo = module.geometry(vec_all[ids])
                nxt[a:b] = module.layer(k, feats[k][atoms], zb, geo, ei, b - a)
            feats.append(nxt)
    g_vec = torch.zeros_like(vec_all)
    atomic = vec_all.new_zeros((n_atoms,))
    last = n_layers - 1
    g_x = vec_all.new_zeros((n_atoms, module.dims[last])) if last > 0 else None
    for a, b, ids, atoms, zb, ei in blocks:
        xin = feats[last][atoms].requires_grad_(last > 0)
        vec = vec_all[ids].requires_grad_(True)
        out = module.layer(last, xin, zb, module.geometry(vec), ei, b - a)
        e = module.energy(out, zb, vec, ei, b - a)
        wrt = [vec, xin] if last > 0 else [vec]
        grads = torch.autograd.grad([e.sum()], wrt, allow_unused=True)
        _accumulate(g_vec, ids, grads[0])
        if g_x is not None and grads[1] is not None:
            g_x.index_add_(0, atoms, grads[1])
        atomic[a:b] = e.detach()
    for k in range(last - 1, -1, -1):
        g_in = vec_all.new_zeros((n_atoms, module.dims[k])) if k > 0 else None
        for a, b, ids, atoms, zb, ei in blocks:
            xin = feats[k][atoms].requires_grad_(k > 0)
            vec = vec_all[ids].requires_grad_(True)
            out = module.layer(k, xin, zb, module.geometry(vec), ei, b - a)
            wrt = [vec, xin] if k > 0 else [vec]
            grads = torch.autograd.grad([out], wrt, [g_x[a:b]], allow_unused=True)
            _accumulate(g_vec, ids, grads[0])
            if g_in is not None and grads[1] is not None:
                g_in.index_add_(0, atoms, grads[1])
        g_x = g_in
    receiver, sender = edges.index[0], edges.index[1]
    forces = torch.zeros_like(system.positions).index_add_(0, receiver, g_vec).index_add_(0, sender, -g_vec)
    n_sys = system.cell.shape[0]
    energy = atomic.new_zeros((n_sys,)).index_add_(0, system.system_index, atomic)
    stress: Optional[Tensor] = None
    if compute_stress:
        outer = vec_all.unsqueeze(2) * g_vec.unsqueeze(1)
        g = atomic.new_zeros((n_sys, 3, 3)).index_add_(0, system.system_index[receiver], outer)
        g = 0.5 * (g + g.transpose(1, 2))
        volume = torch.abs(torch.linalg.det(system.cell))
        safe = torch.where(volume > 0, volume, torch.ones_like(volume))
        stress = torch.where((volume > 0).view(-1, 1, 1), g / safe.view(-1, 1, 1), torch.zeros_like(g))
    return Prediction(energy=energy, forces=forces, stress=stress, atomic_energies=atomic)


def _accumulate(g_vec: Tensor, ids: Tensor, g: Optional[Tensor]) -> None:
    if g is not None:
        g_vec.index_add_(0, ids, g)
