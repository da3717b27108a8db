"""mlip::radial_spline on the device against a plain float64 evaluation of the same cubic table on
the CPU (values and d/dr, inside and outside the grid), a tabulated potential on the device
against the same potential on the CPU, and bad tables or lengths refused or clamped, never read
out of bounds."""
import ase.build
import pytest
import torch

import mlip
from gpu_support import assert_close_scaled
from mlip.models.radial_tabulation import tabulate_radial

DTYPES = [pytest.param(torch.float64, 1e-12, id="float64"), pytest.param(torch.float32, 1e-5, id="float32")]


def _cubic(r, table, r0, inv_h):
    """f(t) = c0 + c1 t + c2 t^2 + c3 t^3 in the interval of r (the first/last one outside)."""
    x = (r - r0) * inv_h
    i = torch.clamp(torch.floor(x), 0, table.shape[0] - 1)
    t = (x - i)[:, None]
    c = table[i.long()]
    return c[:, 0] + c[:, 1] * t + c[:, 2] * t**2 + c[:, 3] * t**3


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_radial_spline_on_device_matches_cpu_evaluation(device, dtype, rtol):
    g = torch.Generator().manual_seed(1)
    table = torch.randn(41, 4, 24, generator=g, dtype=torch.float64)
    r = torch.rand(500, generator=g, dtype=torch.float64) * 5.6 - 0.3  # includes both sides outside the grid
    grad = torch.randn(500, 24, generator=g, dtype=torch.float64)
    r0, inv_h = 0.2, 41 / 4.8
    r64 = r.clone().requires_grad_(True)
    expected = _cubic(r64, table, r0, inv_h)
    (expected_dr,) = torch.autograd.grad(expected, r64, grad)
    r_dev = r.to(device, dtype).requires_grad_(True)
    out = torch.ops.mlip.radial_spline(r_dev, table.to(device, dtype), r0, inv_h)
    (dr,) = torch.autograd.grad(out, r_dev, grad.to(device, dtype))
    assert out.device.type == device
    # the float32 inputs are rounded: compare with the evaluation at the rounded lengths
    if dtype == torch.float32:
        r32 = r.float().double().requires_grad_(True)
        expected = _cubic(r32, table.float().double(), r0, inv_h)
        (expected_dr,) = torch.autograd.grad(expected, r32, grad.float().double())
    assert_close_scaled(out.cpu().double(), expected, rtol, f"value on {device}")
    assert_close_scaled(dr.cpu().double(), expected_dr, rtol * 10, f"d/dr on {device}")


def test_tabulated_potential_on_device_matches_cpu(device):
    cfg = mlip.ModelConfig(elements=("Cu",), cutoff=4.5, l_max=2, channels=8, n_layers=2, radial_hidden=16,
                           avg_num_neighbors=30.0)
    exact = mlip.build_potential(cfg, dtype=torch.float64, seed=3, backend="native")
    cpu = tabulate_radial(exact, n_intervals=64)
    dev = tabulate_radial(mlip.build_potential(cfg, dtype=torch.float64, seed=3, backend="native", device=device),
                          n_intervals=64)
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.1, seed=0)
    system = mlip.system_from_atoms(atoms)
    a = cpu(system, mlip.neighbor_list(system, 4.5), compute_stress=True)
    moved = mlip.System(*(t.to(device) if t is not None else None for t in system))
    b = dev(moved, mlip.neighbor_list(moved, 4.5, backend="native"), compute_stress=True)
    for name in ("energy", "forces", "stress"):
        assert_close_scaled(getattr(b, name).cpu(), getattr(a, name), 1e-12, f"{name} on {device}")


def test_bad_tables_are_refused_and_bad_lengths_stay_inside_the_table(device):
    table = torch.randn(9, 4, 3, dtype=torch.float64, device=device)
    r = torch.tensor([0.5, 1.0], dtype=torch.float64, device=device)
    with pytest.raises(RuntimeError, match="radial_spline"):
        torch.ops.mlip.radial_spline(r, table[:, :3], 0.0, 2.0)  # not (n, 4, M)
    with pytest.raises(RuntimeError, match="radial_spline"):
        torch.ops.mlip.radial_spline(r.float(), table, 0.0, 2.0)  # dtypes differ
    odd = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e300], dtype=torch.float64, device=device)
    out = torch.ops.mlip.radial_spline(odd, table, 0.0, 2.0)  # clamped to the first/last interval
    assert out.shape == (4, 3)
    assert bool(torch.isnan(out[0]).all())  # NaN in, NaN out (the first interval's cubic at t = NaN)
