"""Coulomb models on many MPI ranks: the Ewald sum split across LAMMPS's domains.

The one-rank path (:mod:`mlip.export.lammps_module`) sums the Coulomb energy over the local
atoms in the box, which are all the atoms only on one rank. Here each rank owns its local atoms
and holds ghost atoms out to max(receptive field, Ewald real-space cutoff); the energy of every
charge set s (a learned charge head, or fixed point charges; weight w_s, a committee mean
divides) is, in eV with k_e = 14.3996 eV·Å::

    E_s = w_s k_e [ ½ Σ_{i local} Σ_{j ≠ i, r_ij < r_real} q_i q_j K(r_ij)           real space
                    + (4π / V) Σ_k g(k) (C(k)² + S(k)²) − π Q² / (2 V α²)        reciprocal, background
                    − (α / √π) Σ_{i local} q_i² ]                                 self

with the kernel K, g(k), C(k) = Σ_j q_j cos(k·r_j), S(k) and α, r_real, k_max exactly as in
:mod:`mlip.physics.ewald` (the same energy as on one rank). C, S and Q are sums over all atoms:
each rank sums its local atoms (:meth:`DistributedCoulomb.structure_factors`) and the pair
style adds them over ranks (MPI_Allreduce). A rank then evaluates the surrogate

    (4π / V) Σ_k g(k) (2 C_loc C − C_loc C̄) + …       (C̄: C as a constant)

whose value sums over ranks to the reciprocal energy and whose gradient with respect to the
rank's own positions, charges and the cell is the exact gradient of the total (the other ranks'
atoms enter only through the constants). Charges couple back through the networks:

1. :meth:`network_forward`: the networks on the rank's graph, keeping their autograd graph:
   short-range energy and each charge head's output before the total charge is imposed;
2. pair style: q = q̃ + (Q_total − Σ q̃) / N (sums over ranks), sent to the ghosts (forward comm);
3. :meth:`energy`: Coulomb energy of the rank, ∂E/∂r (real space: local and ghost atoms,
   Σ r⊗F-compatible; reciprocal: local atoms), ∂E/∂q (local and ghost atoms; the pair style sums
   the ghosts' back onto their owners, reverse comm) and the explicit cell virial;
4. pair style: G = ∂E/∂q minus its mean over all atoms (the total-charge constraint's chain rule);
5. the pair style back-propagates ``Σ ε_i + Σ q̃_i G_i`` through the kept graph: all forces
   that flow through the networks (:meth:`network_backward`).

Everything is TorchScript; the pair style (cuda/lammps/pair_mlip_coulomb.cpp) does the
communication. Per-atom energies are the short-range ones plus each atom's Coulomb share
½ Σ_s q_is ∂E/∂q_is (E is quadratic in the charges, so the shares add up to it: the one-rank
convention ½ q_i φ_i); per-atom virials: each edge and real-space pair gives -½ r ⊗ ∂E/∂r to
both its atoms, the reciprocal virial is shared equally by all atoms.
"""

import math
from typing import List, Tuple

import torch
from torch import Tensor, nn

from mlip.export.lammps_module import _six, pair_atom_virial
from mlip.physics.ewald import ewald_parameters, real_space_kernel, reciprocal_wavevectors, wrap_positions
from mlip.types import Edges, System


class DistributedCoulomb(nn.Module):
    """Short-range terms, charge networks and fixed charge tables of a force model, with the
    methods the pair style calls (see the module docstring). Build with :func:`distributed_coulomb`."""

    def __init__(self, short_terms: List[nn.Module], short_weights: List[float], networks: List[nn.Module],
                 network_weights: List[float], network_sets: List[Tuple[float, float, float, float]],
                 fixed_tables: List[Tensor], fixed_weights: List[float], fixed_sets: List[Tuple[float, float, float, float]]):
        super().__init__()
        self.short_terms = nn.ModuleList(short_terms)
        self.short_weights: List[float] = [float(w) for w in short_weights]
        self.networks = nn.ModuleList(networks)
        self.network_weights: List[float] = [float(w) for w in network_weights]
        self.n_networks = len(networks)
        tables = fixed_tables if len(fixed_tables) > 0 else [torch.zeros(119, dtype=torch.float64)]
        self.register_buffer("fixed_tables", torch.stack(tables), persistent=False)
        sets = list(network_sets) + list(fixed_sets)
        self.weights: List[float] = [float(w) for w in list(network_weights) + list(fixed_weights)]
        self.conserve: List[bool] = [True] * len(networks) + [False] * len(fixed_sets)
        # per set: r_on, r_off (Å), alpha (1/Å), r_real (Å), k_max (1/Å)
        self.r_on: List[float] = []
        self.r_off: List[float] = []
        self.alpha: List[float] = []
        self.r_real: List[float] = []
        self.k_max: List[float] = []
        for r_on, r_off, tolerance, real_space_cutoff in sets:
            alpha, r_real, k_max = ewald_parameters(tolerance, real_space_cutoff, r_off)
            self.r_on.append(float(r_on))
            self.r_off.append(float(r_off))
            self.alpha.append(float(alpha))
            self.r_real.append(float(r_real))
            self.k_max.append(float(k_max))
        self.n_sets = len(sets)

    @torch.jit.export
    def conserves(self) -> List[bool]:
        """Per charge set: True when the total charge is imposed (learned charges)."""
        return self.conserve

    @torch.jit.export
    def real_space_cutoff(self) -> float:
        """The largest Ewald real-space cutoff (Å): pairs and ghost atoms must reach it."""
        return max(self.r_real)

    @torch.jit.export
    def network_forward(self, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor,
                        n_local: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """One pass of the networks that keeps its graph: (short-range energy of the local atoms,
        eV; raw charges (n_local, n_sets), e; the positions leaf it differentiates against;
        short-range atomic energies (n_local,), eV, detached; the edge-offset leaf (n_edges, 3),
        zeros, whose gradient is ∂/∂r_e for per-atom virials).
        :meth:`network_backward` takes them once the charge gradients G are known."""
        pos = positions.detach().requires_grad_(True)
        n_all, dtype, device = pos.shape[0], pos.dtype, pos.device
        graph = System(pos, atomic_numbers, torch.eye(3, dtype=dtype, device=device).unsqueeze(0),
                       torch.zeros((1, 3), dtype=torch.bool, device=device),
                       torch.zeros((n_all,), dtype=torch.int64, device=device))
        delta = torch.zeros((edge_index.shape[1], 3), dtype=dtype, device=device).requires_grad_(True)
        edges = Edges(edge_index, delta)  # r_e = r_j - r_i + delta_e @ I (identity cell)
        atomic = torch.zeros((n_local,), dtype=dtype, device=device)
        for t, term in enumerate(self.short_terms):
            atomic = atomic + self.short_weights[t] * term(graph, edges)[:n_local]
        cols: List[Tensor] = []
        for s, net in enumerate(self.networks):
            scalars, species = net.features(graph, edges)
            atomic = atomic + self.network_weights[s] * net.energies_from_scalars(scalars, species)[:n_local]
            cols.append(net.charge_head.raw_charges(scalars[:n_local], species[:n_local]))
        z = atomic_numbers[:n_local]
        for t in range(self.n_sets - self.n_networks):
            cols.append(self.fixed_tables[t].to(dtype)[z])
        return atomic.sum(), torch.stack(cols, dim=1), pos, atomic.detach(), delta

    @torch.jit.export
    def structure_factors(self, x_local: Tensor, q_local: Tensor, cell: Tensor) -> Tensor:
        """This rank's share of every set's C(k), S(k) (e) and Q (e), concatenated (sum over ranks)."""
        parts: List[Tensor] = []
        with torch.no_grad():
            x = wrap_positions(x_local, cell)
            for s in range(self.n_sets):
                c, sn = self._phases(x, q_local[:, s], cell, s)
                parts.append(c)
                parts.append(sn)
                parts.append(q_local[:, s].sum().reshape(1))
        return torch.cat(parts)

    def _phases(self, x: Tensor, q: Tensor, cell: Tensor, s: int) -> Tuple[Tensor, Tensor]:
        kr = x @ reciprocal_wavevectors(cell, self.k_max[s]).transpose(0, 1)
        return q @ torch.cos(kr), q @ torch.sin(kr)

    @torch.jit.export
    def energy(self, positions: Tensor, charges: Tensor, n_local: int, pairs: Tensor, cell: Tensor,
               factors: Tensor, compute_atom_virial: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """This rank's Coulomb energy (eV) and its derivatives.

        Args: positions (n_all, 3) Å, local atoms first; charges (n_all, n_sets) e, ghosts' from
        their owners; pairs (2, n_pairs) ordered (i local, j any, j ≠ i) closer than
        :meth:`real_space_cutoff`; cell (3, 3) rows, Å; factors: :meth:`structure_factors`
        summed over all ranks.

        Returns: energy; ∂E/∂r (n_all, 3) of the real-space part (sum r⊗F applies); ∂E/∂r
        (n_local, 3) of the reciprocal part; ∂E/∂q (n_all, n_sets); the reciprocal part's
        virial (6,) eV, order xx yy zz xy xz yz (positions and cell strained together); with
        ``compute_atom_virial``, the real-space pairs' per-atom virial (n_all, 6), eV (each pair
        ``p = (i, j)`` adds ``-½ r_p ⊗ ∂E/∂r_p`` to i and to j), else (0, 6).
        """
        dtype, device = positions.dtype, positions.device
        pos = positions.detach().requires_grad_(True)
        q = charges.detach().requires_grad_(True)
        x_loc = positions[:n_local].detach().requires_grad_(True)
        strain = torch.zeros((3, 3), dtype=dtype, device=device).requires_grad_(True)
        h = cell + cell @ strain
        x = wrap_positions(x_loc, cell)
        x = x + x @ strain
        volume = torch.abs(torch.linalg.det(h))
        i, j = pairs[0], pairs[1]
        offsets = torch.zeros((pairs.shape[1], 3), dtype=dtype, device=device).requires_grad_(compute_atom_virial)
        r = torch.linalg.norm(pos[j] - pos[i] + offsets, dim=1)
        total = torch.zeros((), dtype=dtype, device=device)
        offset = 0
        for s in range(self.n_sets):
            alpha = self.alpha[s]
            qs = q[:, s]
            inside = r < self.r_real[s]
            kernel = real_space_kernel(torch.where(inside, r, torch.ones_like(r)), alpha, self.r_on[s], self.r_off[s])
            kernel = torch.where(inside, kernel, torch.zeros_like(kernel))
            e = 0.5 * (qs[i] * qs[j] * kernel).sum() - alpha / math.sqrt(math.pi) * (qs[:n_local] * qs[:n_local]).sum()
            k = reciprocal_wavevectors(h, self.k_max[s])
            n_k = k.shape[0]
            c_all = factors[offset:offset + n_k]
            s_all = factors[offset + n_k:offset + 2 * n_k]
            q_all = factors[offset + 2 * n_k]
            offset += 2 * n_k + 1
            if n_k > 0:
                k2 = (k * k).sum(dim=1)
                g = torch.exp(-k2 / (4.0 * alpha * alpha)) / k2
                kr = x @ k.transpose(0, 1)
                c_loc = qs[:n_local] @ torch.cos(kr)
                s_loc = qs[:n_local] @ torch.sin(kr)
                mixed = (2.0 * c_loc - c_loc.detach()) * c_all + (2.0 * s_loc - s_loc.detach()) * s_all
                e = e + (4.0 * math.pi / volume) * (g * mixed).sum()
            q_loc = qs[:n_local].sum()
            e = e - math.pi / (2.0 * volume * alpha * alpha) * (2.0 * q_loc - q_loc.detach()) * q_all
            total = total + self.weights[s] * 14.399645351950548 * e  # k_e, eV·Å (mlip.physics.coulomb.COULOMB_EV_A)
        wrt = [pos, x_loc, q, strain]
        if compute_atom_virial:
            wrt.append(offsets)
        grads = torch.autograd.grad([total], wrt, allow_unused=True)
        g_pos, g_x, g_q, g_strain = grads[0], grads[1], grads[2], grads[3]
        atom_virial = torch.zeros((pos.shape[0] if compute_atom_virial else 0, 6), dtype=dtype, device=device)
        g_pair = grads[4] if compute_atom_virial else None
        if g_pair is not None:
            atom_virial = pair_atom_virial((positions[j] - positions[i]).detach(), g_pair, pairs, pos.shape[0])
        g_pos = g_pos if g_pos is not None else torch.zeros_like(pos)
        g_x = g_x if g_x is not None else torch.zeros_like(x_loc)
        g_q = g_q if g_q is not None else torch.zeros_like(q)
        virial = -_six(g_strain) if g_strain is not None else torch.zeros((6,), dtype=dtype, device=device)
        return total.detach(), g_pos, g_x, g_q, virial, atom_virial

    @torch.jit.export
    def network_backward(self, energy: Tensor, raw: Tensor, positions: Tensor, offsets: Tensor, edge_index: Tensor,
                         charge_gradients: Tensor, compute_atom_virial: bool) -> Tuple[Tensor, Tensor]:
        """Back-propagates ``energy + Σ_{i local, s} q̃_is G_is`` (the first, second, third and
        fourth outputs of :meth:`network_forward`; G: ``charge_gradients`` (n_local, n_sets),
        ∂E_Coulomb/∂q̃ in V, constants) through the kept graph: forces (n_atoms, 3), eV/Å, on the
        graph's atoms and, with ``compute_atom_virial``, its per-atom virial (n_atoms, 6), eV
        (each edge gives ``-½ r_e ⊗ ∂/∂r_e`` to both its atoms), else (0, 6)."""
        total = energy + (raw * charge_gradients).sum()
        n_atoms = positions.shape[0]
        forces = torch.zeros_like(positions)
        atom_virial = torch.zeros((n_atoms if compute_atom_virial else 0, 6), dtype=positions.dtype,
                                  device=positions.device)
        if total.requires_grad:
            wrt = [positions, offsets] if compute_atom_virial else [positions]
            grads = torch.autograd.grad([total], wrt, allow_unused=True)
            g = grads[0]
            if g is not None:
                forces = -g
            if compute_atom_virial:
                g_edge = grads[1]
                if g_edge is not None:
                    vec = (positions[edge_index[1]] - positions[edge_index[0]]).detach()
                    atom_virial = pair_atom_virial(vec, g_edge, edge_index, n_atoms)
        return forces, atom_virial


def distributed_coulomb(force_model: nn.Module) -> DistributedCoulomb:
    """Split a ForceModel's terms (committees and frozen potentials included) into short-range
    terms, learned-charge networks and fixed point charges. Raises TypeError for a Coulomb
    term inside a container it does not know."""
    short: List[nn.Module] = []
    short_w: List[float] = []
    nets: List[nn.Module] = []
    net_w: List[float] = []
    net_sets: List[Tuple[float, float, float, float]] = []
    tables: List[Tensor] = []
    fixed_w: List[float] = []
    fixed_sets: List[Tuple[float, float, float, float]] = []

    def collect(term: nn.Module, weight: float) -> None:
        from mlip.baselines.frozen_potential import FrozenPotential
        from mlip.layered import needs_box
        from mlip.models.committee import CommitteeMean
        from mlip.models.equivariant import EquivariantModel
        from mlip.physics.point_charges import PointCharges

        if not needs_box(term):
            short.append(term)
            short_w.append(weight)
        elif isinstance(term, EquivariantModel):
            nets.append(term)
            net_w.append(weight)
            net_sets.append((0.0, float(term.cutoff), float(term.coulomb_tolerance), float(term.coulomb_real_space_cutoff)))
        elif isinstance(term, PointCharges):
            tables.append(term.charge_table.double())
            fixed_w.append(weight)
            fixed_sets.append((term.r_on, term.r_off, term.tolerance, term.real_space_cutoff))
        elif isinstance(term, CommitteeMean):
            for m in term.members:
                collect(m, weight / len(term.members))
        elif isinstance(term, FrozenPotential):
            for t in term.model.terms:
                collect(t, weight)
        else:
            raise TypeError(f"{type(term).__name__} holds a Coulomb term inside an unknown container")

    for term in force_model.terms:
        collect(term, 1.0)
    return DistributedCoulomb(short, short_w, nets, net_w, net_sets, tables, fixed_w, fixed_sets)


class CoulombRanksModel(nn.Module):
    """What the exported file holds for a Coulomb model: the one-rank module as ``forward`` and
    the distributed methods as ``coulomb_*``."""

    def __init__(self, full: nn.Module, distributed: DistributedCoulomb):
        super().__init__()
        self.full = full
        self.distributed = distributed

    def forward(self, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor, n_local: int,
                compute_atom_virial: bool, cell: Tensor, pbc: Tensor,
                total_charge: float) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return self.full(positions, atomic_numbers, edge_index, n_local, compute_atom_virial, cell, pbc, total_charge)

    @torch.jit.export
    def coulomb_conserves(self) -> List[bool]:
        return self.distributed.conserves()

    @torch.jit.export
    def coulomb_real_space_cutoff(self) -> float:
        return self.distributed.real_space_cutoff()

    @torch.jit.export
    def coulomb_structure_factors(self, x_local: Tensor, q_local: Tensor, cell: Tensor) -> Tensor:
        return self.distributed.structure_factors(x_local, q_local, cell)

    @torch.jit.export
    def coulomb_energy(self, positions: Tensor, charges: Tensor, n_local: int, pairs: Tensor, cell: Tensor,
                       factors: Tensor, compute_atom_virial: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        return self.distributed.energy(positions, charges, n_local, pairs, cell, factors, compute_atom_virial)

    @torch.jit.export
    def coulomb_network_forward(self, positions: Tensor, atomic_numbers: Tensor, edge_index: Tensor,
                                n_local: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return self.distributed.network_forward(positions, atomic_numbers, edge_index, n_local)

    @torch.jit.export
    def coulomb_network_backward(self, energy: Tensor, raw: Tensor, positions: Tensor, offsets: Tensor,
                                 edge_index: Tensor, charge_gradients: Tensor,
                                 compute_atom_virial: bool) -> Tuple[Tensor, Tensor]:
        return self.distributed.network_backward(energy, raw, positions, offsets, edge_index, charge_gradients,
                                                 compute_atom_virial)
