"""Layer-by-layer evaluation of a potential's torch terms: one message-passing layer at a time,
for the atoms of one part of the graph.

A :class:`LayeredModel` holds the networks of a force model (single models, committee members,
frozen potentials, multi-fidelity models; all with the same number of layers) and its pair terms
(ZBL, LJ, ...). Its methods take the node features of a *local* block of atoms (the first
``n_local`` rows, every edge's receiver among them) plus the other atoms that send to them, and
return the local atoms' next features, so that the graph can be cut into pieces between layers:

* LAMMPS (:mod:`mlip.export.lammps_layered`): the local atoms of an MPI rank and one cutoff of
  ghost atoms, features of the ghosts filled in by LAMMPS's communication between layers;
* memory-bounded inference (:mod:`mlip.chunked_evaluation`): blocks of receivers of one big
  system, evaluated one after another.

All geometry enters through the edge vectors ``r_e = r_j - r_i + shifts`` (n_edges, 3), Å, so
the caller turns ``∂E/∂r_e`` into forces and virials. Models with Coulomb terms (sums over all
atoms) have no layered form (:func:`layered_parts` returns None).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from mlip.types import Edges, System


class LayeredModel(nn.Module):
    """Networks (all with the same number of layers) and pair terms, evaluated one layer at a time.

    Features of all networks are concatenated per atom: ``x_k`` is (n_atoms, D_k) with
    ``D_k = Σ_nets channels · (l_k + 1)^2`` (see :meth:`feature_dims`)."""

    def __init__(self, networks: List[nn.Module], network_weights: List[float], pair_terms: List[nn.Module],
                 pair_weights: List[float]):
        super().__init__()
        if not networks:
            raise ValueError("LayeredModel needs at least one network")
        layers = {len(net.layers) for net in networks}
        if len(layers) != 1:
            raise ValueError(f"networks with different numbers of layers {sorted(layers)} cannot share the exchange")
        self.networks = nn.ModuleList(networks)
        self.network_weights: List[float] = [float(w) for w in network_weights]
        self.pair_terms = nn.ModuleList(pair_terms)
        self.pair_weights: List[float] = [float(w) for w in pair_weights]
        self.n_layers = int(layers.pop())
        self.channels: List[int] = [int(net.embedding.weight.shape[1]) for net in networks]
        dims = [sum(self.channels)]
        for k in range(self.n_layers):
            dims.append(sum(int(net.layers[k].channels) * int(net.layers[k].d_out) for net in networks))
        self.dims: List[int] = dims

    @torch.jit.export
    def blocks(self, edge_index: Tensor, n_receivers: int, max_edges: int) -> List[List[Tensor]]:
        """See :func:`receiver_blocks`."""
        return receiver_blocks(edge_index, n_receivers, max_edges)

    @torch.jit.export
    def feature_dims(self) -> List[int]:
        """``[D_0, ..., D_L]``: features per atom before layer 0, ..., after the last layer."""
        return self.dims

    @torch.jit.export
    def embed(self, atomic_numbers: Tensor) -> Tensor:
        """(n_atoms,) atomic numbers -> x_0 (n_atoms, D_0)."""
        parts: List[Tensor] = []
        for net in self.networks:
            x = net.embed(net.species_index(atomic_numbers))
            parts.append(x.reshape(x.shape[0], -1))
        return torch.cat(parts, dim=1)

    @torch.jit.export
    def geometry(self, vec: Tensor) -> List[Tensor]:
        """Edge vectors (n_edges, 3), Å -> per network: spherical harmonics, radial basis, envelope."""
        out: List[Tensor] = []
        for net in self.networks:
            sh, basis, env = net.edge_geometry(vec)
            out.append(sh)
            out.append(basis)
            out.append(env)
        return out

    @torch.jit.export
    def layer(self, k: int, x: Tensor, atomic_numbers: Tensor, geometry: List[Tensor], edge_index: Tensor,
              n_local: int) -> Tensor:
        """Layer ``k``: x_k (n_atoms, D_k) of local and ghost atoms -> x_{k+1} (n_local, D_{k+1}) of
        the local atoms. Every edge's receiver (``edge_index[0]``) must be local."""
        receiver = edge_index[0]
        sender = edge_index[1]
        parts: List[Tensor] = []
        offset = 0
        for i, net in enumerate(self.networks):
            species = net.species_index(atomic_numbers)
            for j, block in enumerate(net.layers):
                if j == k:
                    width = block.channels * block.d_in
                    xi = x[:, offset:offset + width].reshape(x.shape[0], block.channels, block.d_in)
                    y = block(xi, species, geometry[3 * i], geometry[3 * i + 1], geometry[3 * i + 2], sender, receiver,
                              n_local)
                    parts.append(y.reshape(n_local, -1))
                    offset += width
        return torch.cat(parts, dim=1)

    @torch.jit.export
    def energy(self, x: Tensor, atomic_numbers: Tensor, vec: Tensor, edge_index: Tensor, n_local: int) -> Tensor:
        """Atomic energies (n_local,), eV, of the local atoms: readouts of x_L (n_local or more rows,
        D_L) plus the pair terms on the edges (vectors ``vec``, Å; receivers local)."""
        n_atoms = atomic_numbers.shape[0]
        energies = torch.zeros((n_local,), dtype=vec.dtype, device=vec.device)
        offset = 0
        for i, net in enumerate(self.networks):
            species = net.species_index(atomic_numbers[:n_local])
            width = self.channels[i]
            scalars = x[:n_local, offset:offset + width]
            energies = energies + self.network_weights[i] * net.energies_from_scalars(scalars, species)
            offset += width
        if len(self.pair_terms) > 0:
            graph = System(
                torch.zeros((n_atoms, 3), dtype=vec.dtype, device=vec.device),
                atomic_numbers,
                torch.eye(3, dtype=vec.dtype, device=vec.device).unsqueeze(0),
                torch.zeros((1, 3), dtype=torch.bool, device=vec.device),
                torch.zeros((n_atoms,), dtype=torch.int64, device=vec.device),
            )
            edges = Edges(edge_index, vec)  # r_e = 0 - 0 + vec_e @ I
            for i, term in enumerate(self.pair_terms):
                energies = energies + self.pair_weights[i] * term(graph, edges)[:n_local]
        return energies


def receiver_blocks(edge_index: Tensor, n_receivers: int, max_edges: int) -> List[List[Tensor]]:
    """Cut the receivers ``[0, n_receivers)`` into consecutive ranges ``[a, b)`` of at most
    ``max_edges`` edges (at least one receiver each). Per block: ``[bounds, edge_ids, atoms,
    local_edge_index]``: ``bounds = (a, b)``; the block's edges; its atoms, receivers ``a..b-1``
    first, then every other atom that sends to them; and the block's edge_index in that
    numbering (receivers ``< b - a``), ready for :meth:`LayeredModel.layer` with ``n_local = b - a``."""
    receiver, sender = edge_index[0], edge_index[1]
    device = edge_index.device
    n_atoms = 1 + max(n_receivers - 1, int(edge_index.max()) if edge_index.numel() > 0 else 0)
    order = torch.argsort(receiver, stable=True)
    counts = torch.bincount(receiver, minlength=n_receivers)[:n_receivers]
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    slot = torch.full((n_atoms,), -1, dtype=torch.int64, device=device)
    blocks: List[List[Tensor]] = []
    a = 0
    while a < n_receivers:
        limit = int(starts[a]) + max(1, max_edges)
        b = int(torch.searchsorted(ends, torch.full((1,), limit, dtype=ends.dtype, device=device), right=True)[0])
        b = min(max(b, a + 1), n_receivers)
        ids = order[int(starts[a]):int(ends[b - 1])]
        senders = sender[ids]
        outside = torch.zeros((n_atoms,), dtype=torch.bool, device=device)
        outside[senders] = True
        outside[a:b] = False
        atoms = torch.cat([torch.arange(a, b, device=device), torch.nonzero(outside).flatten()])
        slot[atoms] = torch.arange(atoms.shape[0], device=device)
        local = torch.stack([slot[receiver[ids]], slot[senders]])
        slot[atoms] = -1
        blocks.append([torch.tensor([a, b], dtype=torch.int64), ids, atoms, local])
        a = b
    return blocks


def layered_parts(force_model: nn.Module) -> Optional[Tuple[List[nn.Module], List[float], List[nn.Module], List[float]]]:
    """Split a ForceModel's terms into networks and pair terms with their weights (committee
    means divide), or None when some term cannot run layer by layer (Coulomb, unknown
    containers of networks, networks of different depths)."""
    if needs_box(force_model):
        return None
    nets: List[nn.Module] = []
    net_w: List[float] = []
    pairs: List[nn.Module] = []
    pair_w: List[float] = []
    for term in force_model.terms:
        if not _collect(term, 1.0, nets, net_w, pairs, pair_w):
            return None
    if not nets or len({len(n.layers) for n in nets}) != 1:
        return None
    return nets, net_w, pairs, pair_w


def _collect(term: nn.Module, weight: float, nets: List[nn.Module], net_w: List[float], pairs: List[nn.Module],
             pair_w: List[float]) -> bool:
    from mlip.baselines.frozen_potential import FrozenPotential
    from mlip.models.committee import CommitteeMean
    from mlip.models.equivariant import EquivariantModel

    if isinstance(term, EquivariantModel):
        nets.append(term)
        net_w.append(weight)
        return True
    if isinstance(term, CommitteeMean):
        return all(_collect(m, weight / len(term.members), nets, net_w, pairs, pair_w) for m in term.members)
    if isinstance(term, FrozenPotential):
        return all(_collect(t, weight, nets, net_w, pairs, pair_w) for t in term.model.terms)
    if any(isinstance(m, EquivariantModel) for m in term.modules()):
        return False  # a network inside a container we cannot split into layers
    pairs.append(term)
    pair_w.append(weight)
    return True


def needs_box(module: nn.Module) -> bool:
    """True if ``module`` or anything inside it sums over the whole system (Coulomb)."""
    from mlip.models.equivariant import EquivariantModel
    from mlip.physics.point_charges import PointCharges

    for m in module.modules():
        if isinstance(m, PointCharges) or (isinstance(m, EquivariantModel) and m.charge_head is not None):
            return True
    return False
