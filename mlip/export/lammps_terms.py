"""Energy terms as LAMMPS runs them: short-range parts on the ghost-atom graph, Coulomb parts on
the real atoms in the real box.

Every deployed term has ``forward(graph, edges, n_local, box) -> (n_graph,)`` atomic energies,
eV, where

* ``graph`` holds one rank's local atoms (first ``n_local``) and ghost atoms, non-periodic
  (ghosts are explicit images; ``edges`` have zero shifts), and
* ``box`` holds the ``n_local`` local atoms only, with LAMMPS's cell (rows, Å), periodicity and
  the stated total charge (e). It is meaningful only when the local atoms are ALL the atoms
  (one MPI rank, ``pair_style mlip coulomb box``); on many ranks the pair style uses the split
  Ewald sum of :mod:`mlip.export.lammps_coulomb` instead.

Short-range terms (the network without charges, ZBL, LJ, ...) ignore ``box``. A network with a
charge head computes its features (and so its charges) on ``graph`` — exact for local atoms,
whose environments the ghosts complete — and adds each local atom's Coulomb share ½ q_i φ_i
from :func:`mlip.physics.coulomb.coulomb_atomic_energies` on ``box`` (direct sum when the box is
not periodic, Ewald when it is periodic in all three directions, triclinic included). The
charges depend on ghost positions too; LAMMPS sums ghost forces back to their owners, which is
the chain rule through the periodic images.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn

from mlip.layered import needs_box
from mlip.physics.coulomb import coulomb_atomic_energies
from mlip.types import Edges, System, empty_edges


class ShortRangeTerm(nn.Module):
    """A term that needs only the graph: ``term(graph, edges)``."""

    def __init__(self, term: nn.Module):
        super().__init__()
        self.term = term

    def forward(self, graph: System, edges: Edges, n_local: int, box: System) -> Tensor:
        return self.term(graph, edges)


class BoxTerm(nn.Module):
    """A term evaluated on the box atoms alone (e.g. fixed point charges): its per-atom energies
    go to the local atoms, ghosts get 0."""

    def __init__(self, term: nn.Module):
        super().__init__()
        self.term = term

    def forward(self, graph: System, edges: Edges, n_local: int, box: System) -> Tensor:
        local = self.term(box, empty_edges(box.positions.device))
        ghosts = torch.zeros_like(graph.positions[n_local:, 0])
        return torch.cat([local, ghosts])


class LearnedCoulombTerm(nn.Module):
    """An :class:`~mlip.models.equivariant.EquivariantModel` with a charge head: readout energies
    on the graph plus the damped Coulomb energy of its charges on the box (same switch radii,
    tolerance and real-space cutoff as the model's own forward)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.charge_head = model.charge_head
        self.cutoff = float(model.cutoff)
        self.tolerance = float(model.coulomb_tolerance)
        self.real_space_cutoff = float(model.coulomb_real_space_cutoff)

    def forward(self, graph: System, edges: Edges, n_local: int, box: System) -> Tensor:
        scalars, species = self.model.features(graph, edges)
        energies = self.model.readout(scalars, species)
        total = box.total_charge
        if total is None:
            total = torch.zeros(1, dtype=box.positions.dtype, device=box.positions.device)
        q = self.charge_head(scalars[:n_local], species[:n_local], box.system_index, total)
        coulomb = coulomb_atomic_energies(box, q, 0.0, self.cutoff, self.tolerance, self.real_space_cutoff)
        return torch.cat([energies[:n_local] + coulomb, energies[n_local:]])


class TermSum(nn.Module):
    """Sum (or, with ``mean=True``, average: a committee) of deployed terms."""

    def __init__(self, terms: List[nn.Module], mean: bool = False):
        super().__init__()
        self.terms = nn.ModuleList(terms)
        self.divisor = float(len(terms)) if mean else 1.0

    def forward(self, graph: System, edges: Edges, n_local: int, box: System) -> Tensor:
        total = torch.zeros_like(graph.positions[:, 0])
        for term in self.terms:
            total = total + term(graph, edges, n_local, box)
        return total / self.divisor


def deploy_term(term: nn.Module) -> nn.Module:
    """The LAMMPS form of one energy term of a :class:`~mlip.models.force_model.ForceModel`
    (nested committees and frozen potentials included). Raises ``TypeError`` for a term with a
    Coulomb part this module does not know how to split."""
    from mlip.models.committee import CommitteeMean
    from mlip.models.equivariant import EquivariantModel
    from mlip.baselines.frozen_potential import FrozenPotential
    from mlip.physics.point_charges import PointCharges

    if not needs_box(term):
        return ShortRangeTerm(term)
    if isinstance(term, EquivariantModel):
        return LearnedCoulombTerm(term)
    if isinstance(term, PointCharges):
        return BoxTerm(term)
    if isinstance(term, CommitteeMean):
        return TermSum([deploy_term(m) for m in term.members], mean=True)
    if isinstance(term, FrozenPotential):
        return TermSum([deploy_term(t) for t in term.model.terms])
    raise TypeError(f"{type(term).__name__} holds a Coulomb term inside an unknown container")
