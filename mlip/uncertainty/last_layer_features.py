"""Per-atom last-layer features f_i of a single trained model: the atomic energy is linear in them.

The readout (:class:`mlip.nn.readout.AtomicEnergyReadout`) computes
e_i = scale[Z_i] · h_i·w2/√H + shift[Z_i] with h_i its hidden activations, so with

    f_i = scale[Z_i] · h_i / √H        (eV, H = readout_hidden entries)

e_i = f_i·w2 + shift[Z_i]: w2 is the last layer. ``with_shift=True`` appends the one-hot of
the species (the per-element shift is a last-layer weight too; features in eV⁰ there).

:class:`ReadoutRecorder` catches the readout's input during an ordinary evaluation (a forward
hook, removed on exit), so features cost one small matrix product on top of it; the model's
results are untouched.
"""
from __future__ import annotations

import math
from typing import List

import torch
from torch import Tensor, nn

from mlip.errors import ConfigError
from mlip.models.committee import CommitteeMean
from mlip.models.equivariant import EquivariantModel
from mlip.models.multi_fidelity import MultiFidelityModel
from mlip.potential import Potential
from mlip.types import Edges, System


def learned_network(potential: Potential) -> EquivariantModel:
    """The learned network of a single-model, single-fidelity ``potential`` (ConfigError otherwise)."""
    net = potential.model.terms[0]
    if isinstance(net, CommitteeMean):
        raise ConfigError("last-layer uncertainty needs a single model; a committee has its own spread "
                          "(Potential.committee_spread): use that, or load one member")
    if isinstance(net, MultiFidelityModel) or not isinstance(net, EquivariantModel):
        raise ConfigError(f"last-layer uncertainty supports single-fidelity equivariant models, not {type(net).__name__}")
    return net


def readout_features(net: EquivariantModel, scalars: Tensor, species: Tensor, with_shift: bool = False) -> Tensor:
    """(n_atoms, H [+ n_species]) features f_i from the readout's inputs (final invariant
    scalars and species indices); see the module doc."""
    readout = net.readout
    f = readout.scale[species].unsqueeze(1) * readout.hidden(scalars) / math.sqrt(readout.w2.shape[0])
    if with_shift:
        f = torch.cat([f, nn.functional.one_hot(species, readout.shift.shape[0]).to(f.dtype)], dim=1)
    return f


def last_layer_features(potential: Potential, system: System, edges: Edges, with_shift: bool = False) -> Tensor:
    """(n_atoms, D) last-layer features of ``system`` (a forward pass of the trunk, no derivatives)."""
    net = learned_network(potential)
    system = system._replace(positions=system.positions.to(potential.dtype), cell=system.cell.to(potential.dtype))
    with torch.no_grad():
        scalars, species = net.features(system, edges)
        return readout_features(net, scalars, species, with_shift)


class ReadoutRecorder:
    """``with ReadoutRecorder(potential) as rec: pred = potential(system, edges)`` then
    ``rec.features()``: the last-layer features of that evaluation, without a second pass."""

    def __init__(self, potential: Potential, with_shift: bool = False):
        self.net = learned_network(potential)
        self.with_shift = with_shift
        self._inputs: List[Tensor] = []
        self._handle = None

    def _hook(self, module, inputs, output) -> None:
        self._inputs = [inputs[0].detach(), inputs[1]]

    def __enter__(self) -> "ReadoutRecorder":
        self._inputs = []
        self._handle = self.net.readout.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def features(self) -> Tensor:
        """(n_atoms, D) features of the last evaluation inside the ``with`` block."""
        if not self._inputs:
            raise RuntimeError("no evaluation was recorded: call the potential inside the `with` block first")
        with torch.no_grad():
            return readout_features(self.net, self._inputs[0], self._inputs[1], self.with_shift)


def force_feature_jacobian(potential: Potential, system: System, edges: Edges, with_shift: bool = False) -> Tensor:
    """(D, n_atoms, 3) g_k,j = −∂(Σ_{i in j's structure} f_i,k)/∂r_j in eV/Å: forces are
    F_j = Σ_k w2_k g_k,j, so g spans the last layer's force predictions. D backward passes."""
    net = learned_network(potential)
    positions = system.positions.detach().to(potential.dtype).requires_grad_(True)
    system = system._replace(positions=positions, cell=system.cell.to(potential.dtype))
    scalars, species = net.features(system, edges)
    total = readout_features(net, scalars, species, with_shift).sum(dim=0)
    rows = []
    for k in range(total.shape[0]):
        g = torch.autograd.grad([total[k]], [positions], retain_graph=k + 1 < total.shape[0], allow_unused=True)[0]
        rows.append(torch.zeros_like(positions) if g is None else -g)
    return torch.stack(rows).detach()
