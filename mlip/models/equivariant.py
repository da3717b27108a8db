"""The E(3)-equivariant message-passing network (NequIP family): System, Edges -> atomic energies.

Pipeline: species embedding (scalars) -> n_layers x InteractionBlock (features up to l_max;
the last block outputs scalars only) -> per-atom energy readout with per-element scale/shift.
Forces and stress are NOT computed here: see :mod:`mlip.models.force_model`.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from mlip.models.config import ModelConfig
from mlip.nn.embedding import SpeciesEmbedding, SpeciesIndex
from mlip.nn.interaction import InteractionBlock
from mlip.nn.radial import BesselBasis, PolynomialEnvelope
from mlip.nn.readout import AtomicEnergyReadout
from mlip.o3 import spherical_harmonics
from mlip.types import Edges, System, edge_vectors


class EquivariantModel(nn.Module):
    """Atomic energies (n_atoms,) in eV of a batched ``System`` given its ``Edges``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.cutoff = float(config.cutoff)
        self.l_max = int(config.l_max)
        n_species = len(config.elements)
        self.species_index = SpeciesIndex(list(config.atomic_numbers))
        self.embedding = SpeciesEmbedding(n_species, config.channels)
        self.radial_basis = BesselBasis(config.cutoff, config.n_radial_basis)
        self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_exponent)
        layers = []
        for k in range(config.n_layers):
            l_in = 0 if k == 0 else config.l_max
            l_out = 0 if k == config.n_layers - 1 else config.l_max
            layers.append(
                InteractionBlock(
                    n_species,
                    config.channels,
                    l_in,
                    config.l_max,
                    l_out,
                    config.n_radial_basis,
                    config.radial_hidden,
                    config.radial_layers,
                    config.avg_num_neighbors,
                    config.parity,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.readout = AtomicEnergyReadout(n_species, config.channels, config.readout_hidden)

    def forward(self, system: System, edges: Edges) -> Tensor:
        species = self.species_index(system.atomic_numbers)
        receiver = edges.index[0]
        sender = edges.index[1]
        vec = edge_vectors(system, edges)
        r = torch.linalg.norm(vec, dim=1)
        sh = spherical_harmonics(self.l_max, vec / r.unsqueeze(1), False)
        basis = self.radial_basis(r)
        env = self.envelope(r)
        x = self.embedding(species).unsqueeze(2)  # (N, C, 1)
        for layer in self.layers:
            x = layer(x, species, sh, basis, env, sender, receiver)
        return self.readout(x[:, :, 0], species)
