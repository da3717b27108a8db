"""mlip::tp_conv equals the pure-torch reference (ChannelwiseTensorProduct): forward, backward
and double backward, float64 to ~1e-12 and float32 to ~1e-5, on random degrees, parities and
channel counts, plus gradcheck/gradgradcheck and the edge cases (no edges, isolated atoms,
unsorted receivers, channel counts that are not a multiple of the SIMD block)."""
import pytest
import torch

from mlip.nn.native_tensor_product import cg_table
from mlip.nn.tensor_product import ChannelwiseTensorProduct
from native_support import assert_close_scaled, devices, native_or_skip
from tp_cases import all_orders as _all_orders
from tp_cases import random_case as _random_case
from tp_cases import tp_inputs as _inputs
from tp_cases import tp_modules as _modules


@pytest.fixture(autouse=True)
def _needs_native():
    native_or_skip()


@pytest.fixture(params=["group_major", "edge_major"])
def cpu_loop_order(request):
    """The CPU kernels' two loop orders; "edge_major" is the CUDA kernels' per-edge code path."""
    previous = torch.ops.mlip._set_tp_conv_cpu_variant(0 if request.param == "group_major" else 1)
    yield request.param
    torch.ops.mlip._set_tp_conv_cpu_variant(previous)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("seed", range(12))
def test_tp_conv_matches_reference_forward_backward_double_backward(seed, dtype, rtol, device, cpu_loop_order):
    l_in, l_sh, l_out, parity, channels, n_nodes, n_edges = _random_case(seed)
    ref, nat = _modules(l_in, l_sh, l_out, parity, dtype, device)
    inputs, sender, receiver, grad_out, probes = _inputs(ref, channels, n_nodes, n_edges, dtype, device, seed,
                                                         sort_receivers=seed % 3 != 0)
    expected = _all_orders(ref, inputs, sender, receiver, grad_out, probes)
    actual = _all_orders(nat, inputs, sender, receiver, grad_out, probes)
    what = f"l=({l_in},{l_sh},{l_out}) parity={parity} C={channels} N={n_nodes} E={n_edges}"
    assert_close_scaled(actual[0], expected[0], rtol, f"forward {what}")
    for name, a, e in zip(("dx", "dsh", "dw"), actual[1], expected[1]):
        assert_close_scaled(a, e, rtol, f"backward {name} {what}")
    for name, a, e in zip(("ddx", "ddsh", "ddw", "ddgrad_out"), actual[2], expected[2]):
        assert_close_scaled(a, e, rtol, f"double backward {name} {what}")


@pytest.mark.parametrize("l_in,l_sh,l_out,parity", [(2, 2, 2, True), (1, 2, 3, False), (0, 3, 1, True), (3, 1, 0, True)])
def test_tp_conv_gradcheck_and_gradgradcheck_float64(l_in, l_sh, l_out, parity):
    ref, nat = _modules(l_in, l_sh, l_out, parity, torch.float64, "cpu")
    inputs, sender, receiver, _, _ = _inputs(ref, 3, 4, 9, torch.float64, "cpu", seed=7, sort_receivers=False)

    def f(x, sh, w):
        return nat(x, sh, w, sender, receiver)

    assert torch.autograd.gradcheck(f, tuple(inputs))
    assert torch.autograd.gradgradcheck(f, tuple(inputs))


def test_tp_conv_third_derivative_matches_reference():
    ref, nat = _modules(2, 2, 2, True, torch.float64, "cpu")
    inputs, sender, receiver, grad_out, probes = _inputs(ref, 4, 5, 14, torch.float64, "cpu", seed=3)

    def third(module):
        _, _, second = _all_orders(module, inputs, sender, receiver, grad_out, probes, create_graph=True)
        s = sum((t * t).sum() for t in second)
        return torch.autograd.grad(s, inputs)

    for a, e in zip(third(nat), third(ref)):
        assert_close_scaled(a, e, 1e-11, "third derivative")


@pytest.mark.parametrize("n_nodes", [0, 1, 5])
def test_tp_conv_with_no_edges_is_zero_and_has_zero_gradients(n_nodes):
    ref, nat = _modules(2, 2, 2, True, torch.float64, "cpu")
    x = torch.randn(n_nodes, 4, 9, dtype=torch.float64, requires_grad=True)
    sh = torch.zeros(0, 9, dtype=torch.float64, requires_grad=True)
    w = torch.zeros(0, ref.n_paths, 4, dtype=torch.float64, requires_grad=True)
    idx = torch.zeros(0, dtype=torch.int64)
    out = nat(x, sh, w, idx, idx)
    assert out.shape == (n_nodes, 4, 9) and not out.any()
    gx, gsh, gw = torch.autograd.grad(out.sum(), (x, sh, w))
    assert not gx.any() and gsh.shape == (0, 9) and gw.shape == (0, ref.n_paths, 4)


def test_tp_conv_rejects_out_of_range_indices_and_wrong_shapes():
    _, nat = _modules(1, 1, 1, True, torch.float64, "cpu")
    x = torch.randn(3, 2, 4, dtype=torch.float64)
    sh = torch.randn(2, 4, dtype=torch.float64)
    w = torch.randn(2, nat.n_paths, 2, dtype=torch.float64)
    ok = torch.tensor([0, 1])
    with pytest.raises(RuntimeError, match="out of range"):
        nat(x, sh, w, torch.tensor([0, 3]), ok)
    with pytest.raises(RuntimeError, match="out of range"):
        nat(x, sh, w, ok, torch.tensor([-1, 0]))
    with pytest.raises(RuntimeError, match="weight must be"):
        nat(x, sh, w[:, :, :1], ok, ok)
    with pytest.raises(RuntimeError, match="one dtype"):
        nat(x.float(), sh, w, ok, ok)


def test_tp_conv_meta_kernel_gives_shapes():
    ref, nat = _modules(2, 1, 3, False, torch.float32, "cpu")
    x = torch.empty(6, 5, 9, device="meta")
    sh = torch.empty(11, 4, device="meta")
    w = torch.empty(11, ref.n_paths, 5, device="meta")
    idx = torch.empty(11, dtype=torch.int64, device="meta")
    out = torch.ops.mlip.tp_conv(x, sh, w, idx, idx, nat.cg_index.to("meta"), nat.cg_coeff.to("meta"), 16)
    assert out.shape == (6, 5, 16) and out.device.type == "meta"


def test_tp_conv_is_callable_and_differentiable_from_torchscript():
    ref, nat = _modules(2, 2, 2, True, torch.float64, "cpu")
    scripted = torch.jit.script(nat)
    inputs, sender, receiver, grad_out, _ = _inputs(ref, 5, 6, 20, torch.float64, "cpu", seed=11)
    out = scripted(*inputs, sender, receiver)
    expected = ref(*inputs, sender, receiver)
    assert_close_scaled(out, expected, 1e-12, "scripted forward")
    grads = torch.autograd.grad(out, inputs, grad_out)
    expected_grads = torch.autograd.grad(expected, inputs, grad_out)
    for a, e in zip(grads, expected_grads):
        assert_close_scaled(a, e, 1e-12, "scripted backward")


def test_tp_conv_same_result_with_one_and_two_threads(cpu_loop_order):
    ref, nat = _modules(2, 2, 2, True, torch.float32, "cpu")
    inputs, sender, receiver, grad_out, _ = _inputs(ref, 32, 60, 900, torch.float32, "cpu", seed=5)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = nat(*inputs, sender, receiver)
            results.append([out] + list(torch.autograd.grad(out, inputs, grad_out)))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_cg_table_reproduces_the_reference_coupling():
    ref = ChannelwiseTensorProduct(3, 3, 3, True)
    index, coeff = cg_table(ref)
    assert index.dtype == torch.int32 and index.shape[1] == 4 and coeff.dtype == torch.float64
    # rebuild the dense per-block coupling from the table
    for blk in ref.blocks:
        dense = torch.zeros(ref.d_sh, blk.stop - blk.start, blk.k, dtype=torch.float64)
        for (k1, k2, k3, p), c in zip(index.tolist(), coeff.tolist()):
            if not (blk.start <= k1 < blk.stop):
                continue
            kk = [i for i in range(blk.k) if int(blk.dest[i]) == k3 and int(blk.path_of_k[i]) == p]
            assert len(kk) == 1
            dense[k2, k1 - blk.start, kk[0]] = c
        expected = blk.coupling.view(ref.d_sh, blk.stop - blk.start, blk.k)
        torch.testing.assert_close(dense, expected, rtol=0, atol=1e-13)
