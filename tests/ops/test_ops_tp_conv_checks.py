"""mlip::tp_conv and mlip::tp_conv_backward refuse bad indices, CG tables and shapes with the
same clear errors on every device, and never read out of bounds.

The CUDA op checks index and table values by one reduction per call (min/max per index tensor
and per table column, an order flag), then names the offending edge or row with the CPU's own
host loops. That device algorithm is also exposed as ``mlip::_check_tp_conv_values`` so that it
is tested here on CPU tensors, where no GPU is present; on a CUDA machine the ops themselves run
on both devices (``devices()``).
"""
import pytest
import torch

from native_support import devices, native_or_skip

N, C, D1, D2, D3, P = 5, 3, 4, 4, 4, 2
# a small valid table (rows k1, k2, k3, p sorted by (p, k1)); values are not real CG coefficients
TABLE = [(0, 0, 0, 0), (1, 1, 0, 0), (1, 2, 1, 0), (0, 1, 1, 1), (2, 2, 3, 1), (3, 3, 2, 1)]


@pytest.fixture(autouse=True)
def _needs_native():
    native_or_skip()


def _case(device, n_edges=7, table=TABLE):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, D1, generator=g, dtype=torch.float64)
    sh = torch.randn(n_edges, D2, generator=g, dtype=torch.float64)
    w = torch.randn(n_edges, P, C, generator=g, dtype=torch.float64)
    sender = torch.randint(0, N, (n_edges,), generator=g)
    receiver = torch.randint(0, N, (n_edges,), generator=g).sort().values
    cg_index = torch.tensor(table, dtype=torch.int32).reshape(-1, 4)
    cg_coeff = torch.linspace(0.5, 1.5, len(table), dtype=torch.float64)
    grad_out = torch.randn(N, C, D3, generator=g, dtype=torch.float64)
    return {k: v.to(device) for k, v in dict(x=x, sh=sh, w=w, sender=sender, receiver=receiver, cg_index=cg_index,
                                              cg_coeff=cg_coeff, grad_out=grad_out).items()}


def _forward(c, dim_out=D3):
    return torch.ops.mlip.tp_conv(c["x"], c["sh"], c["w"], c["sender"], c["receiver"], c["cg_index"], c["cg_coeff"],
                                  dim_out)


def _backward(c, mask=(True, True, True)):
    return torch.ops.mlip.tp_conv_backward(c["grad_out"], c["x"], c["sh"], c["w"], c["sender"], c["receiver"],
                                           c["cg_index"], c["cg_coeff"], list(mask))


def _by_reduction(c, dim_out=D3):
    torch.ops.mlip._check_tp_conv_values(c["sender"], c["receiver"], c["cg_index"], N, D1, D2, dim_out, P)


def _set(c, name, position, value):
    t = c[name].clone()
    t[position] = value
    return {**c, name: t}


def _unsorted(c):
    t = c["cg_index"].clone()
    t[[1, 3]] = t[[3, 1]]  # a path-1 row before path-0 rows
    return {**c, "cg_index": t}


# (what is broken, the message every path gives)
BAD_VALUES = [
    (lambda c: _set(c, "sender", 3, N), rf"sender\[3\] = {N} is out of range \[0, {N}\)"),
    (lambda c: _set(c, "sender", 0, -1), r"sender\[0\] = -1 is out of range \[0, 5\)"),
    (lambda c: _set(c, "receiver", 6, 2**40), r"receiver\[6\] = 1099511627776 is out of range \[0, 5\)"),
    (lambda c: _set(c, "receiver", 0, -7), r"receiver\[0\] = -7 is out of range \[0, 5\)"),
    (lambda c: _set(c, "cg_index", (2, 0), D1), r"cg_index row 2 = \(4, 2, 1, 0\) is out of range for dim_in=4"),
    (lambda c: _set(c, "cg_index", (4, 1), -1), r"cg_index row 4 = \(2, -1, 3, 1\) is out of range"),
    (lambda c: _set(c, "cg_index", (5, 2), D3), r"cg_index row 5 = \(3, 3, 4, 1\) is out of range .*dim_out=4"),
    (lambda c: _set(c, "cg_index", (5, 3), P), r"cg_index row 5 = \(3, 3, 2, 2\) is out of range .*n_paths=2"),
    (_unsorted, r"cg_index must be sorted by \(path, k1\)"),
]
IDS = ["sender_high", "sender_negative", "receiver_huge", "receiver_negative", "table_k1", "table_k2", "table_k3",
       "table_path", "table_order"]


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("break_it,message", BAD_VALUES, ids=IDS)
def test_bad_indices_and_tables_are_refused_with_the_same_message_forward_and_backward(device, break_it, message):
    c = break_it(_case(device))
    with pytest.raises(RuntimeError, match=r"mlip::tp_conv: " + message):
        _forward(c)
    with pytest.raises(RuntimeError, match=r"mlip::tp_conv_backward: " + message):
        _backward(c)
    with pytest.raises(RuntimeError, match=r"mlip::tp_conv_backward: " + message):
        _backward(c, mask=(False, False, False))  # checked even when no gradient is wanted


@pytest.mark.parametrize("break_it,message", BAD_VALUES, ids=IDS)
def test_the_device_check_by_reduction_finds_the_same_problems(break_it, message):
    with pytest.raises(RuntimeError, match=r"mlip::_check_tp_conv_values: " + message):
        _by_reduction(break_it(_case("cpu")))


@pytest.mark.parametrize("n_edges,table", [(7, TABLE), (0, TABLE), (7, TABLE[:1]), (7, []), (0, [])],
                         ids=["normal", "no_edges", "one_row", "no_rows", "nothing"])
def test_the_device_check_by_reduction_accepts_valid_inputs(n_edges, table):
    _by_reduction(_case("cpu", n_edges, table))
    # the largest valid values pass: indices N - 1, table rows at every limit
    c = _case("cpu", n_edges, table)
    if n_edges:
        c = _set(_set(c, "sender", 0, N - 1), "receiver", n_edges - 1, N - 1)
    _by_reduction(c)
    _by_reduction(_case("cpu", n_edges, [(D1 - 1, D2 - 1, D3 - 1, P - 1)]))


def test_the_device_check_compares_table_rows_with_dim_out():
    c = _case("cpu")
    _by_reduction(c, dim_out=D3)
    with pytest.raises(RuntimeError, match=r"cg_index row 4 = \(2, 2, 3, 1\) is out of range .*dim_out=3"):
        _by_reduction(c, dim_out=3)


@pytest.mark.parametrize("device", devices())
def test_valid_inputs_still_run_and_indices_on_the_limit_are_accepted(device):
    c = _set(_set(_case(device), "sender", 0, N - 1), "receiver", 6, N - 1)
    out = _forward(c)
    assert out.shape == (N, C, D3) and bool(torch.isfinite(out).all())
    gx, gsh, gw = _backward(c)
    assert gx.shape == c["x"].shape and gsh.shape == c["sh"].shape and gw.shape == c["w"].shape


@pytest.mark.parametrize("device", devices())
def test_bad_shapes_dtypes_and_dim_out_are_refused(device):
    c = _case(device)
    with pytest.raises(RuntimeError, match=r"mlip::tp_conv: dim_out must be >= 1, got 0"):
        _forward(c, dim_out=0)
    with pytest.raises(RuntimeError, match=r"sender and receiver must be \(n_edges=7,\)"):
        _forward({**c, "sender": c["sender"][:-1]})
    with pytest.raises(RuntimeError, match=r"sender and receiver must be int64"):
        _forward({**c, "receiver": c["receiver"].int()})
    with pytest.raises(RuntimeError, match=r"cg_index must be int32 \(n_entries, 4\)"):
        _forward({**c, "cg_index": c["cg_index"].long()})
    with pytest.raises(RuntimeError, match=r"cg_coeff must be \(n_entries,\)"):
        _forward({**c, "cg_coeff": c["cg_coeff"][:-1]})
    with pytest.raises(RuntimeError, match=r"grad_out must be \(n_nodes, channels, dim_out\)"):
        _backward({**c, "grad_out": c["grad_out"][:-1]})
    with pytest.raises(RuntimeError, match=r"grad_out must match x's dtype and device"):
        _backward({**c, "grad_out": c["grad_out"].float()})
    if device != "cpu":
        with pytest.raises(RuntimeError, match=r"all inputs must be on"):
            _forward({**c, "cg_index": c["cg_index"].cpu()})
