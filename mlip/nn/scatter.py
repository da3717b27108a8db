"""Segment sums with native torch (no torch-scatter at run time: plain libtorch must load us)."""
from __future__ import annotations

import torch
from torch import Tensor


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Sum rows of ``src`` into ``dim_size`` bins given by ``index`` (along dim 0).

    Example:
        >>> scatter_sum(torch.tensor([1., 2., 3.]), torch.tensor([0, 1, 0]), 2)
        tensor([4., 2.])
    """
    out = torch.zeros((dim_size,) + src.shape[1:], dtype=src.dtype, device=src.device)
    return out.index_add(0, index, src)
