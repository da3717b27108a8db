"""Native fused tensor-product convolution: ``torch.ops.mlip.tp_conv``.

The op computes exactly the function of the pure-torch reference
:class:`mlip.nn.tensor_product.ChannelwiseTensorProduct`,

    out[i, c, k3] = Σ_{e: receiver(e)=i} Σ_k  coeff_k · sh[e, k2] · w[e, p, c] · x[sender(e), c, k1],

with the Clebsch–Gordan structure passed as a sparse table ``(k1, k2, k3, p)`` + ``coeff``
(int32 (K, 4) rows sorted by (path, k1), float64 (K,) coefficients), so the C++/CUDA code is
generic over l_max and parity. The module that extracts the table from the reference and calls
the op is :class:`mlip.nn.native_tensor_product.NativeChannelwiseTensorProduct`.
Backward and double backward are C++ (cuda/torch/ops.cpp).
"""
from __future__ import annotations

import torch
from torch import Tensor

from mlip.ops._library import require


def tp_conv(
    x: Tensor, sh: Tensor, weights: Tensor, sender: Tensor, receiver: Tensor, cg_index: Tensor, cg_coeff: Tensor, dim_out: int
) -> Tensor:
    """``torch.ops.mlip.tp_conv``: x (N, C, D1), sh (E, D2), weights (E, P, C) -> (N, C, dim_out)."""
    require()
    return torch.ops.mlip.tp_conv(x, sh, weights, sender, receiver, cg_index, cg_coeff.to(x.dtype), dim_out)
