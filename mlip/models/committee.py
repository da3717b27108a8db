"""Committee of models: the mean atomic energy is one energy term, so forces of the mean come
from one backward pass; the spread (uncertainty) needs one backward pass per member, done on
request by :meth:`mlip.potential.Potential.committee_spread` (each member through the same
autograd wrapper, :class:`mlip.models.force_model.ForceModel`)."""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor, nn

from mlip.models.force_model import ForceModel
from mlip.types import Edges, System


class CommitteeMean(nn.Module):
    """Atomic energies (n_atoms,) eV averaged over ``members`` (each ``(system, edges) -> (n_atoms,)``)."""

    def __init__(self, members: List[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.n_members = len(members)

    def forward(self, system: System, edges: Edges) -> Tensor:
        total = torch.zeros_like(system.positions[:, 0])
        for m in self.members:
            total = total + m(system, edges)
        return total / self.n_members


def member_spread(committee: CommitteeMean, others: List[nn.Module], system: System, edges: Edges) -> Tuple[Tensor, Tensor]:
    """``(energy_std (n_systems,) eV, forces_std (n_atoms,) eV/Å)`` over the members, each
    evaluated with the terms ``others`` through the one autograd wrapper (population standard
    deviations; forces_std = sqrt(Σ_xyz var(F_i)) per atom)."""
    energies, forces = [], []
    for member in committee.members:
        p = ForceModel([member] + others)(system, edges, True, False, False)
        energies.append(p.energy)
        forces.append(p.forces)
    e = torch.stack(energies)
    f = torch.stack(forces)
    return e.std(dim=0, unbiased=False), f.var(dim=0, unbiased=False).sum(dim=1).sqrt()
