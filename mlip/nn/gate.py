"""Gated nonlinearity (smooth, so Hessians exist).

Scalars (l = 0) go through SiLU; each channel of degree l > 0 is multiplied by
sigmoid(g_{l,c}) where the gates g are a learned linear function of the scalars. Gates are
invariant, so the result stays equivariant.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

#: 1/sqrt(E[silu(z)^2]) for z ~ N(0, 1): keeps unit second moment through the activation.
SILU_GAIN = 1.0 / math.sqrt(0.3550)


class Gate(nn.Module):
    """(N, C, (l_max+1)^2) -> same shape, equivariant and smooth."""

    def __init__(self, channels: int, l_max: int):
        super().__init__()
        self.channels = channels
        self.l_max = l_max
        self.silu_gain = SILU_GAIN
        self.gate_weight = nn.Parameter(torch.empty(channels, max(l_max, 1) * channels))
        # component -> gate index (degree-1), for l >= 1
        idx = [l - 1 for l in range(1, l_max + 1) for _ in range(2 * l + 1)]
        self.register_buffer("gate_of_component", torch.tensor(idx, dtype=torch.int64))

    def forward(self, x: Tensor) -> Tensor:
        scalars = x[:, :, 0]
        out0 = torch.nn.functional.silu(scalars) * self.silu_gain
        if self.l_max == 0:
            return out0.unsqueeze(2)
        g = scalars @ (self.gate_weight / math.sqrt(self.channels))  # (N, L*C)
        g = torch.sigmoid(g.view(x.shape[0], self.l_max, self.channels))  # (N, L, C)
        gates = g[:, self.gate_of_component, :].transpose(1, 2)  # (N, C, D-1)
        return torch.cat([out0.unsqueeze(2), x[:, :, 1:] * gates], dim=2)
