"""mlip::tp_conv on the device against the pure-torch reference on the CPU: forward, backward and
double backward (float64 to 1e-12, float32 to 1e-5 of the scale), identical results run to run
(no atomics: each node's sum has a fixed order), and indices that became invalid after a passed
check refused with the op's error, not a crash.

On "cpu" the native CPU kernels run in the CUDA kernels' loop order (edge-major)."""
import pytest
import torch

from gpu_support import assert_close_scaled
from tp_cases import all_orders, random_case, tp_inputs, tp_modules

DTYPES = [pytest.param(torch.float64, 1e-12, id="float64"), pytest.param(torch.float32, 1e-5, id="float32")]


@pytest.fixture(autouse=True)
def cuda_loop_order(device):
    previous = torch.ops.mlip._set_tp_conv_cpu_variant(1)
    yield
    torch.ops.mlip._set_tp_conv_cpu_variant(previous)


def _on(device, tensors, grad=True):
    return [t.detach().to(device).requires_grad_(grad) for t in tensors]


def _compare(device, shape, sizes, dtype, rtol, seed, sort_receivers):
    l_in, l_sh, l_out, parity = shape
    ref, _ = tp_modules(l_in, l_sh, l_out, parity, dtype, "cpu")
    _, nat = tp_modules(l_in, l_sh, l_out, parity, dtype, device)
    inputs, sender, receiver, grad_out, probes = tp_inputs(ref, *sizes, dtype, "cpu", seed, sort_receivers)
    expected = all_orders(ref, inputs, sender, receiver, grad_out, probes)
    actual = all_orders(nat, _on(device, inputs), sender.to(device), receiver.to(device),
                        _on(device, [grad_out])[0], _on(device, probes, grad=False))
    what = f"l=({l_in},{l_sh},{l_out}) parity={parity} (C, N, E)={sizes} on {device}"
    assert actual[0].device.type == device
    assert_close_scaled(actual[0].cpu(), expected[0], rtol, f"forward {what}")
    for name, a, e in zip(("dx", "dsh", "dw"), actual[1], expected[1]):
        assert_close_scaled(a.cpu(), e, rtol, f"backward {name} {what}")
    for name, a, e in zip(("ddx", "ddsh", "ddw", "ddgrad_out"), actual[2], expected[2]):
        assert_close_scaled(a.cpu(), e, rtol, f"double backward {name} {what}")


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("seed", [0, 2, 5, 7, 9])
def test_tp_conv_random_shapes_match_cpu_reference(device, seed, dtype, rtol):
    l_in, l_sh, l_out, parity, channels, n_nodes, n_edges = random_case(seed)
    _compare(device, (l_in, l_sh, l_out, parity), (channels, n_nodes, n_edges), dtype, rtol, seed, seed % 2 == 0)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_tp_conv_model_shape_matches_cpu_reference(device, dtype, rtol):
    """The benchmark model's shape: l = 2, 32 channels (one warp), ~20 edges per node, plus
    33 channels (two channel chunks on the GPU)."""
    _compare(device, (2, 2, 2, True), (32, 60, 1200), dtype, rtol, seed=11, sort_receivers=True)
    _compare(device, (1, 2, 2, False), (33, 20, 300), dtype, rtol, seed=12, sort_receivers=False)


def test_tp_conv_is_identical_run_to_run(device):
    ref, nat = tp_modules(2, 2, 2, True, torch.float32, device)
    inputs, sender, receiver, grad_out, _ = tp_inputs(ref, 32, 300, 9000, torch.float32, device, 4, False)
    runs = []
    for _ in range(2):
        out = nat(*inputs, sender, receiver)
        runs.append([out] + list(torch.autograd.grad(out, inputs, grad_out)))
    for name, a, b in zip(("out", "dx", "dsh", "dw"), *runs):
        assert torch.equal(a, b), f"{name} differs between two identical calls on {device}"


def test_indices_made_invalid_after_a_passed_check_are_refused(device):
    """The device ops check an edge list once and remember it; an in-place change bumps the
    tensor's version, so the next call checks again and names the bad edge."""
    ref, nat = tp_modules(2, 2, 2, True, torch.float64, device)
    inputs, sender, receiver, grad_out, _ = tp_inputs(ref, 4, 6, 20, torch.float64, device, 3)
    nat(*inputs, sender, receiver)  # passes and is remembered
    nat(*inputs, sender, receiver)
    with torch.no_grad():
        sender[3] = 6
    with pytest.raises(RuntimeError, match=r"mlip::tp_conv: sender\[3\] = 6 is out of range \[0, 6\)"):
        nat(*inputs, sender, receiver)
    with torch.no_grad():
        sender[3] = 1
        receiver[19] = -2
    with pytest.raises(RuntimeError, match=r"receiver\[19\] = -2 is out of range \[0, 6\)"):
        nat(*inputs, sender, receiver)
    with torch.no_grad():
        receiver[19] = 5
        nat.cg_index[0, 0] = 99  # the module's table, changed in place
    with pytest.raises(RuntimeError, match=r"cg_index row 0 = \(99, .* is out of range"):
        nat(*inputs, sender, receiver)
