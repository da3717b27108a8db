"""One NequIP-style interaction (message-passing) block.

    h    = Linear_up(x)                                   per-degree channel mixing
    w_ij = RadialMLP(B(r_ij) u(r_ij)) · u(r_ij)           per-edge, per-path, per-channel weights
    a_i  = Σ_j TP(h_j, Y(r̂_ij); w_ij) / sqrt(avg_num_neighbors)
    x'   = Gate(Linear_down(a_i) + SelfConnection_species(x_i)) + x_i      (residual)
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mlip.errors import BackendUnavailableError
from mlip.nn.gate import Gate
from mlip.nn.linear import EquivariantLinear, SpeciesLinear
from mlip.nn.radial import RadialMLP
from mlip.nn.tensor_product import ChannelwiseTensorProduct


class InteractionBlock(nn.Module):
    """Features (N, C, (l_in+1)^2) -> (N, C, (l_out+1)^2)."""

    def __init__(
        self,
        n_species: int,
        channels: int,
        l_max_in: int,
        l_max_sh: int,
        l_max_out: int,
        n_radial_basis: int,
        radial_hidden: int,
        radial_layers: int,
        avg_num_neighbors: float,
        parity: bool,
        backend: str = "reference",
    ):
        super().__init__()
        self.channels = channels
        self.d_in = (l_max_in + 1) ** 2
        self.d_out = (l_max_out + 1) ** 2
        self.linear_up = EquivariantLinear(channels, channels, l_max_in, l_max_in)
        self._tp_shape = (l_max_in, l_max_sh, l_max_out, parity)
        self.tensor_product = _tensor_product(backend, *self._tp_shape)
        self.n_paths = self.tensor_product.n_paths
        self.radial = RadialMLP(n_radial_basis, self.n_paths * channels, radial_hidden, radial_layers)
        self.linear_down = EquivariantLinear(channels, channels, l_max_out, l_max_out)
        self.self_connection = SpeciesLinear(n_species, channels, channels, l_max_in, l_max_out)
        self.gate = Gate(channels, l_max_out)
        self.neighbor_norm = 1.0 / math.sqrt(avg_num_neighbors)

    @torch.jit.unused
    def set_backend(self, backend: str) -> None:
        """Swap the tensor-product kernels ("native" or "reference"); weights are untouched
        (the two modules have the same persistent buffers, the CG couplings)."""
        old = self.tensor_product
        if backend == ("native" if _is_native(old) else "reference"):
            return
        like = next(b for b in old.buffers() if b.is_floating_point())
        self.tensor_product = _tensor_product(backend, *self._tp_shape).to(device=like.device, dtype=like.dtype)

    @property
    @torch.jit.unused
    def backend(self) -> str:
        """"native" or "reference": the kernels this block runs."""
        return "native" if _is_native(self.tensor_product) else "reference"

    def forward(
        self, x: Tensor, species: Tensor, sh: Tensor, radial_basis: Tensor, envelope: Tensor, sender: Tensor, receiver: Tensor,
        n_out: int = -1,
    ) -> Tensor:
        """``n_out >= 0``: return only the first ``n_out`` atoms' features (every receiver must be
        one of them; the others only send). This is how LAMMPS updates its local atoms from
        local and ghost senders, one layer at a time."""
        h = self.linear_up(x)
        w = self.radial(radial_basis) * envelope.unsqueeze(1)
        w = w.view(w.shape[0], self.n_paths, self.channels)
        a = self.tensor_product(h, sh, w, sender, receiver) * self.neighbor_norm
        if n_out >= 0:
            a, x, species = a[:n_out], x[:n_out], species[:n_out]
        y = self.gate(self.linear_down(a) + self.self_connection(x, species))
        if self.d_out <= self.d_in:
            return y + x[:, :, : self.d_out]
        return y + torch.nn.functional.pad(x, (0, self.d_out - self.d_in))


def _is_native(module: nn.Module) -> bool:
    return hasattr(module, "cg_index")


def _tensor_product(backend: str, l_max_in: int, l_max_sh: int, l_max_out: int, parity: bool) -> nn.Module:
    if backend == "native":  # compiled kernels; raises BackendUnavailableError when not built
        from mlip.nn.native_tensor_product import NativeChannelwiseTensorProduct

        return NativeChannelwiseTensorProduct(l_max_in, l_max_sh, l_max_out, parity)
    if backend == "reference":
        return ChannelwiseTensorProduct(l_max_in, l_max_sh, l_max_out, parity)
    raise BackendUnavailableError(f"unknown backend {backend!r}; choose 'reference' or 'native'")
