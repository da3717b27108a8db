"""The channelwise tensor product computed by the fused native op ``mlip::tp_conv``.

:class:`NativeChannelwiseTensorProduct` is :class:`mlip.nn.tensor_product.ChannelwiseTensorProduct`
(same paths, same Clebsch–Gordan values, same per-path normalisation, same buffers and
state_dict, so weights move freely between the two backends) whose forward runs the kernel of
:mod:`mlip.ops.tensor_product`. The kernel is generic over l_max and parity: it takes the CG
structure as a sparse table ``(k1, k2, k3, path)`` + ``coeff``, which :func:`cg_table` extracts
from the reference module's own stacked coupling buffers.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from mlip.nn.tensor_product import ChannelwiseTensorProduct
from mlip.ops import require

#: CG entries with |coeff| below this are structural zeros of the real 3j tensors (~1e-17).
ZERO_TOLERANCE = 1e-13


def cg_table(reference: ChannelwiseTensorProduct) -> Tuple[Tensor, Tensor]:
    """Sparse CG table of a reference tensor product: (int32 (K, 4) rows (k1, k2, k3, path),
    float64 (K,) coefficients incl. the path normalisation), sorted by (path, k1, k3, k2)."""
    rows = []
    for blk in reference.blocks:
        width = blk.stop - blk.start
        coupling = blk.coupling.detach().to(torch.float64).cpu().view(reference.d_sh, width, blk.k)
        dest = blk.dest.cpu().tolist()
        path = blk.path_of_k.cpu().tolist()
        nz = (coupling.abs() > ZERO_TOLERANCE).nonzero().tolist()
        for k2, m1, kk in nz:
            rows.append((path[kk], blk.start + m1, dest[kk], k2, float(coupling[k2, m1, kk])))
    rows.sort(key=lambda r: r[:4])
    index = torch.tensor([[k1, k2, k3, p] for p, k1, k3, k2, _ in rows], dtype=torch.int32).view(-1, 4)
    coeff = torch.tensor([r[4] for r in rows], dtype=torch.float64)
    return index, coeff


class NativeChannelwiseTensorProduct(ChannelwiseTensorProduct):
    """:class:`ChannelwiseTensorProduct` computed by the fused native op (same buffers and
    state_dict as the reference, so weights move freely between the two backends).

    Raises:
        BackendUnavailableError: the op library is not built/loaded.
    """

    def __init__(self, l_max_in: int, l_max_sh: int, l_max_out: int, parity: bool = True):
        require()
        super().__init__(l_max_in, l_max_sh, l_max_out, parity)
        index, coeff = cg_table(self)
        self.register_buffer("cg_index", index, persistent=False)
        self.register_buffer("cg_coeff", coeff, persistent=False)

    def forward(self, x: Tensor, sh: Tensor, weights: Tensor, sender: Tensor, receiver: Tensor) -> Tensor:
        return torch.ops.mlip.tp_conv(x, sh, weights, sender, receiver, self.cg_index, self.cg_coeff, self.d_out)
