"""A freshly initialised learned network: one model or a committee, single- or multi-fidelity.

Weights are N(0, 1) from a local ``torch.Generator(seed)`` (never the global RNG); per-element
readout scales start at 1 and shifts at 0 eV, charge heads at their initial scale, and the
fidelity heads of a multi-fidelity model as :meth:`MultiFidelityModel.reset_fidelity_parameters`
says (ρ = 1, δ = 0).
"""
from __future__ import annotations

import torch
from torch import nn

from mlip.models.committee import CommitteeMean
from mlip.models.config import ModelConfig
from mlip.models.equivariant import EquivariantModel
from mlip.models.multi_fidelity import MultiFidelityModel, fidelity_models
from mlip.physics.charges import INITIAL_CHARGE_SCALE


def new_network(config: ModelConfig, backend: str, committee_size: int = 1, seed: int = 0) -> nn.Module:
    """The learned term of a new potential (``backend``: "native" or "reference" kernels)."""
    network = MultiFidelityModel if config.fidelities else EquivariantModel
    learned = network(config, backend) if committee_size == 1 else CommitteeMean([network(config, backend) for _ in range(committee_size)])
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in learned.named_parameters():
            if name.endswith("readout.scale"):
                p.fill_(1.0)
            elif name.endswith("readout.shift") or name.endswith("charge_head.shift"):
                p.fill_(0.0)
            elif name.endswith("charge_head.scale"):
                p.fill_(INITIAL_CHARGE_SCALE)
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        for model in fidelity_models(learned):
            model.reset_fidelity_parameters()
    return learned
