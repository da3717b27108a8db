"""The E(3)-equivariant message-passing network (NequIP family): System, Edges -> atomic energies.

Pipeline: species embedding (scalars) -> n_layers x InteractionBlock (features up to l_max;
the last block outputs scalars only) -> per-atom energy readout with per-element scale/shift.
With ``long_range="coulomb"`` a charge head on the same final scalars predicts charges q_i
(total charge exact) and each atom adds ½ q_i φ_i, its share of the damped Coulomb energy
(:mod:`mlip.physics.coulomb`), so the long-range energy stays inside the one autograd wrapper.
Forces and stress are NOT computed here: see :mod:`mlip.models.force_model`.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from mlip.models.config import ModelConfig
from mlip.nn.embedding import SpeciesEmbedding, SpeciesIndex
from mlip.nn.interaction import InteractionBlock
from mlip.nn.radial import BesselBasis, PolynomialEnvelope
from mlip.nn.readout import AtomicEnergyReadout
from mlip.o3 import spherical_harmonics
from mlip.physics.charges import ChargeHead
from mlip.physics.coulomb import coulomb_atomic_energies, system_total_charge
from mlip.types import Edges, System, edge_vectors


class EquivariantModel(nn.Module):
    """Atomic energies (n_atoms,) in eV of a batched ``System`` given its ``Edges``."""

    def __init__(self, config: ModelConfig, backend: str = "reference"):
        """``backend``: "reference" or "native" tensor-product kernels (see :mod:`mlip.backends`;
        resolve "auto" before calling). Switch later with :meth:`set_backend`."""
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
                    backend=backend,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.readout = AtomicEnergyReadout(n_species, config.channels, config.readout_hidden)
        self.charge_head = ChargeHead(n_species, config.channels, config.readout_hidden) if config.long_range == "coulomb" else None
        self.coulomb_tolerance = float(config.coulomb_tolerance)
        self.coulomb_real_space_cutoff = float(config.coulomb_real_space_cutoff)

    def forward(self, system: System, edges: Edges) -> Tensor:
        scalars, species = self.features(system, edges)
        energies = self.energies_from_scalars(scalars, species)
        head = self.charge_head
        if head is not None:
            q = head(scalars, species, system.system_index, system_total_charge(system))
            energies = energies + coulomb_atomic_energies(
                system, q, 0.0, self.cutoff, self.coulomb_tolerance, self.coulomb_real_space_cutoff
            )
        return energies

    @torch.jit.unused
    def set_backend(self, backend: str) -> None:
        """Run the message passing on "native" or "reference" kernels (weights unchanged)."""
        for layer in self.layers:
            layer.set_backend(backend)

    @property
    @torch.jit.unused
    def backend(self) -> str:
        """"native" or "reference"."""
        return self.layers[0].backend

    @torch.jit.unused
    def charges(self, system: System, edges: Edges) -> Tensor:
        """(n_atoms,) predicted charges in e (models with ``long_range="coulomb"``)."""
        head = self.charge_head
        if head is None:
            raise ValueError("this model predicts no charges (long_range is 'none')")
        scalars, species = self.features(system, edges)
        return head(scalars, species, system.system_index, system_total_charge(system))

    def features(self, system: System, edges: Edges) -> Tuple[Tensor, Tensor]:
        """Final invariant scalars (n_atoms, channels) and species indices (n_atoms,)."""
        species = self.species_index(system.atomic_numbers)
        receiver = edges.index[0]
        sender = edges.index[1]
        sh, basis, env = self.edge_geometry(edge_vectors(system, edges))
        x = self.embed(species)
        for layer in self.layers:
            x = layer(x, species, sh, basis, env, sender, receiver, -1)
        return x[:, :, 0], species

    def embed(self, species: Tensor) -> Tensor:
        """Layer-0 node features (n_atoms, channels, 1) of species indices (n_atoms,)."""
        return self.embedding(species).unsqueeze(2)

    def edge_geometry(self, vec: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Edge vectors (n_edges, 3), Å -> spherical harmonics (n_edges, (l_max+1)^2), radial
        basis (n_edges, n_radial_basis) and cutoff envelope (n_edges,), shared by all layers."""
        r = torch.linalg.norm(vec, dim=1)
        sh = spherical_harmonics(self.l_max, vec / r.unsqueeze(1), False)
        return sh, self.radial_basis(r), self.envelope(r)

    def energies_from_scalars(self, scalars: Tensor, species: Tensor) -> Tensor:
        """Atomic energies (n_atoms,), eV, from the final scalars (the readout; no Coulomb part)."""
        return self.readout(scalars, species)
