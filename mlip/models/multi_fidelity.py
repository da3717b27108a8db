"""Multi-fidelity model: one equivariant trunk, one energy per level of theory.

Fidelities are declared lowest first (``ModelConfig.fidelities``, e.g. ``("xtb", "b3lyp")``).
With the final invariant scalars x_i of the shared trunk and the species Z_i of atom i:

    e_0,i = s_0[Z_i]·MLP_0(x_i) + E0_0[Z_i]                         (the trunk's own readout)
    e_k,i = ρ_k[Z_i]·(e_{k−1},i − E0_{k−1}[Z_i]) + s_k[Z_i]·MLP_k(x_i) + E0_k[Z_i]    (k ≥ 1)

all in eV, i.e. f_k = ρ_k·f_{k−1} + δ_k, where ρ_k multiplies the lower level's energy
*relative to its own per-element reference energies* E0_{k−1} (xTB and B3LYP absolute energies
differ by thousands of eV, and ρ must not act on them) and δ_k = s_k·MLP_k + E0_k is a
fidelity-specific readout on the shared trunk that carries the level's own reference
energies. ρ_k is a learned scalar per element and fidelity, initialised to 1; MLP_k's last
layer starts at zero, so an untrained δ_k is the difference of reference energies alone.
With ``fidelity_coupling="heads"`` ρ is fixed to 0: independent readouts on the shared trunk.

The model is an :class:`~mlip.models.equivariant.EquivariantModel` (same trunk, parameter
names and kernels) whose ``forward`` returns the atomic energies of ONE fidelity, the
attribute ``fidelity`` (an int, default the highest), so a potential evaluates one level of
theory through the one autograd wrapper and TorchScript exports bake that fidelity in.
Training on batches that mix fidelities uses :class:`FidelitySelection`, which gives each
atom its own system's fidelity from :meth:`MultiFidelityModel.per_fidelity`.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from mlip.errors import ConfigError
from mlip.models.committee import CommitteeMean
from mlip.models.config import ModelConfig
from mlip.models.equivariant import EquivariantModel
from mlip.models.fidelity_names import fidelity_index
from mlip.nn.readout import AtomicEnergyReadout
from mlip.types import Edges, System


class MultiFidelityModel(EquivariantModel):
    """Atomic energies (n_atoms,) in eV at fidelity ``self.fidelity`` (index into
    ``fidelity_names``, lowest first); :meth:`per_fidelity` gives all of them."""

    def __init__(self, config: ModelConfig, backend: str = "reference"):
        if len(config.fidelities) < 2:
            raise ConfigError("MultiFidelityModel needs ModelConfig.fidelities with at least two names")
        super().__init__(config, backend)
        n_species = len(config.elements)
        self.fidelity_names: List[str] = list(config.fidelities)
        self.heads = nn.ModuleList(
            [AtomicEnergyReadout(n_species, config.channels, config.readout_hidden) for _ in config.fidelities[1:]]
        )
        rho = torch.ones(len(config.fidelities) - 1, n_species)
        if config.fidelity_coupling == "rho_delta":
            self.rho = nn.Parameter(rho)
        else:  # independent heads: ρ = 0, not trained
            self.register_buffer("rho", torch.zeros_like(rho))
        self.fidelity = len(config.fidelities) - 1

    @torch.jit.unused
    def reset_fidelity_parameters(self) -> None:
        """ρ = 1 (rho_delta), δ readouts: scale 1, reference energies 0 eV, last layer 0."""
        with torch.no_grad():
            if isinstance(self.rho, nn.Parameter):
                self.rho.fill_(1.0)
            for head in self.heads:
                head.w2.zero_()
                head.scale.fill_(1.0)
                head.shift.zero_()

    def _chain(self, scalars: Tensor, species: Tensor, last: int) -> List[Tensor]:
        """Atomic energies of fidelities 0..last, eV."""
        e = self.readout(scalars, species)
        out = [e]
        reference = self.readout.shift
        for k, head in enumerate(self.heads):
            if k < last:
                e = self.rho[k][species] * (e - reference[species]) + head(scalars, species)
                reference = head.shift
                out.append(e)
        return out

    def forward(self, system: System, edges: Edges) -> Tensor:
        scalars, species = self.features(system, edges)
        return self.energies_from_scalars(scalars, species)

    def energies_from_scalars(self, scalars: Tensor, species: Tensor) -> Tensor:
        """Atomic energies (n_atoms,), eV, at fidelity ``self.fidelity``."""
        return self._chain(scalars, species, self.fidelity)[-1]

    @torch.jit.unused
    def per_fidelity(self, system: System, edges: Edges) -> Tensor:
        """(n_atoms, n_fidelities) atomic energies at every fidelity, eV (lowest first)."""
        scalars, species = self.features(system, edges)
        return torch.stack(self._chain(scalars, species, len(self.fidelity_names) - 1), dim=1)

    @torch.jit.unused
    def charges(self, system: System, edges: Edges) -> Tensor:
        raise ValueError("multi-fidelity models predict no charges")


def fidelity_models(learned: nn.Module) -> List[MultiFidelityModel]:
    """The multi-fidelity models of a learned term (one, or each committee member); [] if none."""
    members = list(learned.members) if isinstance(learned, CommitteeMean) else [learned]
    return [m for m in members if isinstance(m, MultiFidelityModel)]


def fidelity_names_of(learned: nn.Module) -> List[str]:
    """Declared fidelities of a learned term, lowest first ([] for a single-fidelity model)."""
    models = fidelity_models(learned)
    return list(models[0].fidelity_names) if models else []


def select_fidelity(learned: nn.Module, name: Optional[str]) -> int:
    """Make every model of ``learned`` evaluate fidelity ``name`` (None: the highest), in place;
    returns its index. Unknown names raise UnknownFidelityError listing the known ones."""
    index = fidelity_index(name, fidelity_names_of(learned))
    for model in fidelity_models(learned):
        model.fidelity = index
    return index


def selected_fidelity(learned: nn.Module) -> Optional[str]:
    """The name of the fidelity ``learned`` evaluates, or None (single fidelity)."""
    models = fidelity_models(learned)
    return models[0].fidelity_names[models[0].fidelity] if models else None


class FidelitySelection(nn.Module):
    """``forward(system, edges) -> (n_atoms,)`` eV: each atom's energy at its system's fidelity
    (``atom_fidelity``, (n_atoms,) int64 indices), from ``learned.per_fidelity`` (committee: the
    members' mean). An energy term for the one autograd wrapper on mixed-fidelity batches."""

    def __init__(self, learned: nn.Module, atom_fidelity: Tensor):
        super().__init__()
        self.learned = learned
        self.atom_fidelity = atom_fidelity

    def forward(self, system: System, edges: Edges) -> Tensor:
        models = fidelity_models(self.learned)
        energies = models[0].per_fidelity(system, edges)
        for m in models[1:]:
            energies = energies + m.per_fidelity(system, edges)
        energies = energies / len(models)
        return energies.gather(1, self.atom_fidelity.view(-1, 1)).squeeze(1)


def learned_term_for(learned: nn.Module, fidelities: Optional[Sequence[Optional[str]]], system: System) -> nn.Module:
    """The energy term that evaluates system s at fidelity ``fidelities[s]`` (None: the one
    ``learned`` is set to): ``learned`` itself when every system uses that one, else a
    :class:`FidelitySelection`. Unknown names raise UnknownFidelityError listing the known."""
    if fidelities is None or all(name is None for name in fidelities):
        return learned
    n_systems = int(system.cell.shape[0])
    if len(fidelities) != n_systems:
        raise ValueError(f"{len(fidelities)} fidelity names for {n_systems} systems")
    known = fidelity_names_of(learned)
    current = fidelity_models(learned)[0].fidelity if known else 0
    indices = [current if name is None else fidelity_index(name, known, "fidelity label") for name in fidelities]
    if all(k == current for k in indices):
        return learned
    per_system = torch.tensor(indices, dtype=torch.int64, device=system.positions.device)
    return FidelitySelection(learned, per_system[system.system_index])
