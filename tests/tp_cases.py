"""Random tensor-product convolution cases and their derivatives of every order, shared by
tests/ops/test_ops_tp_conv.py (native vs reference on one device) and tests/gpu (device vs the
CPU reference)."""
import random

import torch

from mlip.nn.native_tensor_product import NativeChannelwiseTensorProduct
from mlip.nn.tensor_product import ChannelwiseTensorProduct
from mlip.o3 import tensor_product_paths


def random_case(seed):
    """(l_in, l_sh, l_out, parity, channels, n_nodes, n_edges) drawn from ``seed``."""
    rnd = random.Random(seed)
    while True:
        l_in, l_sh, l_out = rnd.randint(0, 3), rnd.randint(0, 3), rnd.randint(0, 3)
        parity = rnd.random() < 0.7
        if list(tensor_product_paths(l_in, l_sh, l_out, parity)):
            break
    channels = rnd.choice([1, 3, 8, 16, 17, 33])
    n_nodes = rnd.randint(1, 9)
    n_edges = rnd.randint(0, 40)
    return l_in, l_sh, l_out, parity, channels, n_nodes, n_edges


def tp_modules(l_in, l_sh, l_out, parity, dtype, device):
    """(reference, native) tensor products of one shape on ``device``."""
    ref = ChannelwiseTensorProduct(l_in, l_sh, l_out, parity).to(device=device, dtype=dtype)
    nat = NativeChannelwiseTensorProduct(l_in, l_sh, l_out, parity).to(device=device, dtype=dtype)
    return ref, nat


def tp_inputs(ref, channels, n_nodes, n_edges, dtype, device, seed, sort_receivers=True):
    """Seeded ([x, sh, w] requiring grad, sender, receiver, grad_out, probes of x, sh, w)."""
    g = torch.Generator().manual_seed(seed)
    d_in = (ref.l_max_in + 1) ** 2
    x = torch.randn(n_nodes, channels, d_in, generator=g, dtype=torch.float64)
    sh = torch.randn(n_edges, ref.d_sh, generator=g, dtype=torch.float64)
    w = torch.randn(n_edges, ref.n_paths, channels, generator=g, dtype=torch.float64)
    # leave node 0 isolated when there are several nodes
    lo = 1 if n_nodes > 2 else 0
    sender = torch.randint(lo, n_nodes, (n_edges,), generator=g)
    receiver = torch.randint(lo, n_nodes, (n_edges,), generator=g)
    if sort_receivers:
        receiver = receiver.sort().values
    grad_out = torch.randn(n_nodes, channels, ref.d_out, generator=g, dtype=torch.float64)
    probes = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (x, sh, w)]
    cast = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
    return (
        [cast(t).requires_grad_(True) for t in (x, sh, w)],
        sender.to(device),
        receiver.to(device),
        cast(grad_out).requires_grad_(True),
        [cast(p) for p in probes],
    )


def all_orders(module, inputs, sender, receiver, grad_out, probes, create_graph=False):
    """(out, first derivatives (x, sh, w), second derivatives (x, sh, w, grad_out))."""
    x, sh, w = inputs
    out = module(x, sh, w, sender, receiver)
    first = torch.autograd.grad(out, (x, sh, w), grad_out, create_graph=True)
    scalar = sum((f * p).sum() for f, p in zip(first, probes))
    second = torch.autograd.grad(scalar, (x, sh, w, grad_out), allow_unused=True, create_graph=create_graph)
    second = [torch.zeros_like(t) if s is None else s for s, t in zip(second, (x, sh, w, grad_out))]
    return out, first, second
