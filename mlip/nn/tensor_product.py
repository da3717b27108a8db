"""Channelwise ("uvu") Clebsch–Gordan tensor-product convolution — the pure-torch reference.

For every edge (i <- j) and path p = (l1, l2, l3):

    m_ij[c, l3] += α_p · w_ij[p, c] · Σ_{m1, m2} C^{l1 l2 l3}_{m1 m2 m3} · x_j[c, l1 m1] · Y^{l2}_{m2}(r̂_ij)

and node i receives Σ_j m_ij. α_p = sqrt((2 l3 + 1) / n_paths(l3)) keeps component-normalised
inputs component-normalised. The fused kernels in cuda/ (op ``mlip::tp_conv``) compute the same
function without materialising per-edge messages; this file is their reference.

Implementation: for each input degree l1, the CG coefficients of all its paths are stacked
into one matrix so that ``A = Y @ C_l1`` gives per-edge (2l1+1) x K coupling matrices and one
batched matmul applies them to every channel.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import Tensor, nn

from mlip.o3 import tensor_product_paths, wigner_3j



class _DegreeBlock(nn.Module):
    """Stacked coupling for all paths with the same input degree l1."""

    def __init__(self, l1: int, coupling: Tensor, dest: Tensor, path_of_k: Tensor):
        super().__init__()
        self.l1 = l1
        self.start = l1 * l1
        self.stop = (l1 + 1) * (l1 + 1)
        self.k = int(dest.numel())
        self.register_buffer("coupling", coupling)  # (D2, (2l1+1) * K)
        self.register_buffer("dest", dest)  # (K,) output component index
        self.register_buffer("path_of_k", path_of_k)  # (K,) path index


class ChannelwiseTensorProduct(nn.Module):
    """Reference ``tp_conv``: (x (N, C, D1), Y (E, D2), w (E, P, C), edges) -> (N, C, D3).

    Args:
        l_max_in, l_max_sh, l_max_out: degrees of node features, edge harmonics and output.
        parity: True keeps only paths with l1 + l2 + l3 even (O(3)); False keeps all (SO(3)).
    """

    def __init__(self, l_max_in: int, l_max_sh: int, l_max_out: int, parity: bool = True):
        super().__init__()
        self.paths: List[Tuple[int, int, int]] = list(tensor_product_paths(l_max_in, l_max_sh, l_max_out, parity))
        if not self.paths:
            raise ValueError(f"no tensor-product paths for l_in={l_max_in}, l_sh={l_max_sh}, l_out={l_max_out}")
        self.n_paths = len(self.paths)
        self.d_sh = (l_max_sh + 1) ** 2
        self.d_out = (l_max_out + 1) ** 2
        self.l_max_in = l_max_in
        n_into = [sum(1 for p in self.paths if p[2] == l3) for l3 in range(l_max_out + 1)]
        blocks = []
        for l1 in range(l_max_in + 1):
            mine = [(k, p) for k, p in enumerate(self.paths) if p[0] == l1]
            if not mine:
                continue
            cols, dest, path_of_k = [], [], []
            for pid, (_, l2, l3) in mine:
                cg = wigner_3j(l1, l2, l3, dtype=torch.float64)  # (2l1+1, 2l2+1, 2l3+1)
                alpha = math.sqrt((2 * l3 + 1) / n_into[l3])
                full = torch.zeros(2 * l1 + 1, self.d_sh, 2 * l3 + 1, dtype=torch.float64)
                full[:, l2 * l2 : (l2 + 1) ** 2, :] = alpha * cg
                cols.append(full)
                dest.extend(range(l3 * l3, (l3 + 1) ** 2))
                path_of_k.extend([pid] * (2 * l3 + 1))
            c = torch.cat(cols, dim=2)  # (2l1+1, D2, K)
            coupling = c.permute(1, 0, 2).reshape(self.d_sh, -1)  # (D2, (2l1+1)*K)
            blocks.append(
                _DegreeBlock(l1, coupling, torch.tensor(dest, dtype=torch.int64), torch.tensor(path_of_k, dtype=torch.int64))
            )
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor, sh: Tensor, weights: Tensor, sender: Tensor, receiver: Tensor) -> Tensor:
        """x (N, C, D1) node features; sh (E, D2); weights (E, P, C); sender/receiver (E,)."""
        n_edges = sh.shape[0]
        channels = x.shape[1]
        xj = x.index_select(0, sender)
        msg = torch.zeros((n_edges, channels, self.d_out), dtype=x.dtype, device=x.device)
        for blk in self.blocks:
            a = (sh @ blk.coupling).view(n_edges, blk.stop - blk.start, blk.k)
            m = torch.bmm(xj[:, :, blk.start : blk.stop], a)  # (E, C, K)
            w = weights.index_select(1, blk.path_of_k).transpose(1, 2)  # (E, C, K)
            msg = msg.index_add(2, blk.dest, m * w)
        out = torch.zeros((x.shape[0], channels, self.d_out), dtype=x.dtype, device=x.device)
        return out.index_add(0, receiver, msg)
