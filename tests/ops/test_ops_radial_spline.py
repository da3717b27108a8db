"""mlip::radial_spline (inference tabulation of the radial MLPs): the op equals a pure-torch
evaluation of the same cubic table (value and d/dr), Hermite tables reproduce cubics exactly,
a tabulated potential matches the exact one within the measured error bound (which falls as
n^-4), works scripted, and refuses second derivatives."""
import ase
import ase.build
import pytest
import torch

import mlip
from mlip.models.radial_tabulation import radial_tabulation_error, tabulate_radial
from mlip.ops.radial_spline import hermite_table
from native_support import assert_close_scaled, native_or_skip


@pytest.fixture(autouse=True)
def _needs_native():
    native_or_skip()


def _torch_spline(r, table, r0, inv_h):
    x = (r - r0) * inv_h
    i = x.floor().clamp(0, table.shape[0] - 1)
    t = (x - i).unsqueeze(1)
    c = table[i.long()]
    return c[:, 0] + t * (c[:, 1] + t * (c[:, 2] + t * c[:, 3]))


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["float64", "float32"])
def test_radial_spline_op_equals_torch_evaluation_value_and_derivative(dtype, rtol):
    g = torch.Generator().manual_seed(0)
    table = torch.randn(37, 4, 11, generator=g, dtype=torch.float64).to(dtype)
    r = (torch.rand(200, generator=g, dtype=torch.float64) * 5.4 - 0.2).to(dtype).requires_grad_(True)  # incl. outside
    grad = torch.randn(200, 11, generator=g, dtype=torch.float64).to(dtype)
    out = torch.ops.mlip.radial_spline(r, table, 0.1, 37 / 4.9)
    ref = _torch_spline(r, table, 0.1, 37 / 4.9)
    assert_close_scaled(out, ref, rtol, "value")
    (gr,) = torch.autograd.grad(out, r, grad)
    (gr_ref,) = torch.autograd.grad(ref, r, grad)
    assert_close_scaled(gr, gr_ref, rtol * 10, "d/dr")


def test_radial_spline_gradcheck_float64():
    table = torch.randn(9, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    r = torch.tensor([0.33, 1.7, 2.05, 3.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r: torch.ops.mlip.radial_spline(r, table, 0.0, 2.0), (r,))


def test_hermite_table_reproduces_a_cubic_exactly():
    knots = torch.linspace(0.5, 3.0, 6, dtype=torch.float64)
    f = lambda r: torch.stack([1 - 2 * r + 0.5 * r**3, r**2], dim=1)  # noqa: E731
    df = lambda r: torch.stack([-2 + 1.5 * r**2, 2 * r], dim=1)  # noqa: E731
    table = hermite_table(f(knots), df(knots), 0.5)
    r = torch.linspace(0.5, 3.0, 101, dtype=torch.float64)
    torch.testing.assert_close(torch.ops.mlip.radial_spline(r, table, 0.5, 2.0), f(r), rtol=0, atol=1e-13)


def _potential(dtype):
    cfg = mlip.ModelConfig(elements=("Cu",), cutoff=4.5, l_max=2, channels=8, n_layers=3, radial_hidden=16,
                           avg_num_neighbors=30.0)
    return mlip.build_potential(cfg, dtype=dtype, seed=3, backend="native")


def _copper(dtype):
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.1, seed=0)
    system = mlip.system_from_atoms(atoms, dtype=dtype)
    return system, mlip.neighbor_list(system, 4.5, backend="native")


def test_tabulated_potential_matches_exact_within_bound_and_error_falls_as_n_to_minus_4():
    pot = _potential(torch.float64)
    system, edges = _copper(torch.float64)
    exact = pot(system, edges, compute_stress=True)
    errors = {}
    for n in (128, 512):
        tab = tabulate_radial(pot, n_intervals=n)
        radial = max(row["relative"] for row in radial_tabulation_error(pot, tab, n_samples=4000))
        pred = tab(system, edges, compute_stress=True)
        errors[n] = (radial, float((pred.forces - exact.forces).abs().max()))
        assert abs(float(pred.energy - exact.energy)) / len(system.positions) < 1e-4
    assert errors[512][0] < 1e-7 and errors[512][1] < 1e-5
    assert errors[128][0] / errors[512][0] > 64  # ~ (512/128)^4 = 256


def test_tabulated_potential_scripted_equals_eager_and_refuses_second_derivatives():
    tab = tabulate_radial(_potential(torch.float64), n_intervals=256)
    system, edges = _copper(torch.float64)
    eager = tab.model(system, edges, True, True, False)
    scripted = torch.jit.script(tab.model)(system, edges, True, True, False)
    assert_close_scaled(scripted.forces, eager.forces, 1e-12, "forces")
    with pytest.raises(RuntimeError, match="first derivatives only"):
        tab(system, edges, create_graph=True).forces.sum().backward()
