"""Layer-by-layer evaluation for LAMMPS: ghost atoms one cutoff deep, node features exchanged
between MPI ranks once per message-passing layer.

The whole-graph path (:mod:`mlip.export.lammps_module`) needs ghost atoms out to the receptive
field, ``n_layers · cutoff``: with 4 layers of 5 Å, a rank of 4,000 atoms carries several times
as many ghosts, and each of them is computed. Here each rank keeps ghosts one cutoff (+ skin)
deep only and LAMMPS's own communication completes them between layers:

* ``x_0 = embed(Z)`` on every local and ghost atom (it depends on the species only);
* layer ``k``: ``x_{k+1}[local] = layer(k, x_k[local + ghost], edges)`` with edges whose receiver
  is local (senders local or ghost); then a *forward* communication copies each owner's
  ``x_{k+1}`` to its ghost copies (on this rank or others);
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

from mlip.types import Edges, System


class LayeredLammpsModel(nn.Module):
    """Networks (all with the same number of layers) and pair terms, evaluated one layer at a time.

    Features of all networks are concatenated per atom: ``x_k`` is (n_atoms, D_k) with
    ``D_k = Σ_nets channels · (l_k + 1)^2`` (see :meth:`feature_dims`)."""

    def __init__(self, networks: List[nn.Module], network_weights: List[float], pair_terms: List[nn.Module],
                 pair_weights: List[float]):
        super().__init__()
        if not networks:
            raise ValueError("LayeredLammpsModel needs at least one network")
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


def layered_parts(force_model: nn.Module) -> Optional[Tuple[List[nn.Module], List[float], List[nn.Module], List[float]]]:
    """Split a ForceModel's terms into networks and pair terms with their weights (committee
    means divide), or None when some term cannot run layer by layer (Coulomb, unknown
    containers of networks, networks of different depths)."""
    from mlip.export.lammps_terms import needs_box

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


def evaluate_with_exchange(module, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor, n_local: int,
                           owner: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Reference driver of the layered methods, as ``pair_style mlip`` runs them on one rank.

    Args:
        module: a :class:`LayeredLammpsModel` (eager or TorchScript, or an exported module's
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
    inputs: List[Tensor] = []
    outputs: List[Tensor] = []
    for k in range(len(m.feature_dims()) - 1):
        xin = x.detach().requires_grad_(k > 0)
        out = m.layer(k, xin, atomic_numbers, geo, edge_index, n_local)
        x = torch.cat([out.detach(), out.detach()[owner[ghosts]]])  # forward communication
        inputs.append(xin)
        outputs.append(out)
    xin = x.detach().requires_grad_(True)
    energy = m.energy(xin, atomic_numbers, vec, edge_index, n_local).sum()
    g_x, g_vec = torch.autograd.grad(energy, [xin, vec], allow_unused=True)
    g_vec = torch.zeros_like(vec) if g_vec is None else g_vec
    g_geo = [torch.zeros_like(t) for t in geo]
    for k in range(len(outputs) - 1, -1, -1):
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


def _reverse(g: Tensor, owner: Tensor, ghosts: Tensor, n_local: int) -> Tensor:
    """Reverse communication: ghost rows' gradients added to their owners; the local rows."""
    return g[:n_local].index_add(0, owner[ghosts], g[ghosts])


class _Exported:
    """Uniform access to the layered methods of a LayeredLammpsModel or an exported module."""

    def __init__(self, module):
        self._m = module
        self._prefix = "exchange_" if hasattr(module, "exchange_embed") else ""

    def __getattr__(self, name):
        return getattr(self._m, self._prefix + name)


class ExchangeModel(nn.Module):
    """What the exported file holds when the model supports feature exchange: the whole-graph
    module as ``forward`` (the fallback) and the layered methods as ``exchange_*``."""

    def __init__(self, full: nn.Module, layered: LayeredLammpsModel):
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
