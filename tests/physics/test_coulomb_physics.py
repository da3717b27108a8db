"""Electrostatics: Madelung constant, Ewald == direct sums, damping, derivatives, invariances,
and clear errors for bad input (physics checks of issue 6)."""
import math

import numpy as np
import pytest
import torch

from mlip.errors import InvalidSystemError
from mlip.models.force_model import ForceModel
from mlip.physics.coulomb import COULOMB_EV_A, coulomb_atomic_energies, damped_inverse_distance, direct_potential
from mlip.physics.ewald import ewald_potential
from mlip.physics.point_charges import PointCharges
from mlip.types import empty_edges
from mlip import units
from physics_systems import central_differences, ionic_charges, random_cluster, rock_salt, single_thread, system_of, triclinic_ionic_cell  # noqa: F401

MADELUNG_ROCK_SALT = 1.747564594633182


def coulomb_energy(system, q, r_off=0.0, tol=1e-10, rc=8.0):
    return coulomb_atomic_energies(system, q, 0.0, r_off, tol, rc).sum()


@pytest.mark.parametrize("cubic", [True, False], ids=["cubic_cell", "primitive_triclinic_cell"])
def test_madelung_constant_of_rock_salt_from_point_charges(cubic):
    a = 5.64
    atoms = rock_salt(a, cubic=cubic)
    e = coulomb_energy(system_of(atoms), ionic_charges(atoms))
    n_pairs = len(atoms) // 2
    madelung = -float(e) * (a / 2) / (COULOMB_EV_A * n_pairs)
    assert abs(madelung - MADELUNG_ROCK_SALT) < 1e-8


def test_coulomb_constant_matches_units_module():
    assert COULOMB_EV_A == pytest.approx(units.COULOMB_EV_A, rel=1e-15)


@pytest.mark.parametrize("tolerance", [1e-4, 1e-6, 1e-8])
def test_ewald_accuracy_follows_the_requested_tolerance(tolerance):
    atoms = rock_salt(rattle=0.1, seed=2)
    s, q = system_of(atoms), ionic_charges(atoms)
    exact = coulomb_energy(s, q, tol=1e-14, rc=12.0)
    for rc in (4.0, 7.0, 10.0):  # any real-space cutoff: alpha and k_max follow
        e = coulomb_energy(s, q, tol=tolerance, rc=rc)
        assert abs(float(e - exact)) < 30 * tolerance * abs(float(exact))


def test_ewald_equals_direct_sum_over_growing_supercells_of_a_neutral_arrangement():
    """Energy of the home cell's ions in the field of a (2m+1)^3 block of neutral copies -> Ewald
    (rock salt's cubic cell: no dipole and no quadrupole, so the block sum converges absolutely)."""
    atoms = rock_salt()
    pos = torch.tensor(atoms.positions)
    cell = torch.tensor(np.array(atoms.cell))
    q = ionic_charges(atoms)
    ewald = 0.5 * float((q * ewald_potential(pos, q, cell, 0.0, 0.0, 1e-12, 8.0)).sum())
    errors = []
    for m in (0, 1, 2, 3, 4):
        r = torch.arange(-m, m + 1, dtype=torch.float64)
        images = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
        all_pos = (pos.unsqueeze(0) + (images @ cell).unsqueeze(1)).reshape(-1, 3)
        all_q = q.repeat(images.shape[0])
        d = torch.cdist(pos, all_pos)
        home = int(torch.nonzero((images == 0).all(dim=1))[0]) * len(q)
        d[:, home : home + len(q)] += torch.diag(torch.full((len(q),), math.inf))
        direct = 0.5 * float((q * (all_q / d).sum(dim=1)).sum())
        errors.append(abs(direct - ewald))
    assert errors == sorted(errors, reverse=True)
    assert errors[0] > 0.1 and errors[-1] < 1e-5


def test_ewald_of_a_cluster_in_a_growing_triclinic_box_tends_to_the_finite_direct_sum():
    """A neutral, dipole-free cluster: periodic-image interactions decay as L^-5."""
    atoms = triclinic_ionic_cell()
    pos = torch.tensor(atoms.positions)
    q = ionic_charges(atoms)
    direct = 0.5 * float((q * direct_potential(pos, q, torch.triu_indices(8, 8, 1), 0.0, 3.5)).sum())
    cell = torch.tensor(np.array(atoms.cell))
    unit_rows = cell / cell.norm(dim=1, keepdim=True)
    errors = [abs(0.5 * float((q * ewald_potential(pos, q, unit_rows * L, 0.0, 3.5, 1e-10, 0.4 * L)).sum()) - direct)
              for L in (10.0, 20.0, 40.0)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 3e-6
    assert errors[1] / errors[2] > 20  # ~ 2^5


def test_damped_kernel_is_smooth_finite_at_zero_and_bare_beyond_r_off():
    r = torch.linspace(1e-4, 8.0, 2001, dtype=torch.float64, requires_grad=True)
    k = damped_inverse_distance(r, 0.0, 5.0)
    (dk,) = torch.autograd.grad(k.sum(), r, create_graph=True)
    (d2k,) = torch.autograd.grad(dk.sum(), r)
    beyond = r.detach() >= 5.0
    torch.testing.assert_close(k[beyond], 1.0 / r.detach()[beyond])
    assert float(k.abs().max()) < 1.0 and float(k[0]) < 1e-6  # no divergence at r -> 0
    # continuity of the value and first two derivatives across r_off
    at = torch.tensor([5.0 - 1e-7, 5.0 + 1e-7], dtype=torch.float64, requires_grad=True)
    v = damped_inverse_distance(at, 0.0, 5.0)
    (g,) = torch.autograd.grad(v.sum(), at, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), at)
    assert abs(float(v[0] - v[1])) < 1e-6 and abs(float(g[0] - g[1])) < 1e-6 and abs(float(g2[0] - g2[1])) < 1e-5
    assert torch.isfinite(d2k).all()


def _point_charge_model(r_off, tol=1e-12):
    return ForceModel([PointCharges([11, 17], [1.0, -1.0], 0.0, r_off, tol, 10.0)])


@pytest.mark.parametrize("periodic", [False, True], ids=["finite_direct", "triclinic_ewald"])
def test_forces_and_stress_match_finite_differences_float64(periodic):
    atoms = triclinic_ionic_cell() if periodic else random_cluster(6, seed=3)
    atoms.rattle(0.05, seed=4)
    model = _point_charge_model(r_off=3.0)
    s = system_of(atoms)
    pred = model(s, empty_edges(), True, periodic, False)
    atoms_checked = [0, 3, 5]  # a few atoms keep the test fast; all strain components below
    for i in atoms_checked:
        def energy_at(x, i=i):
            pos = s.positions.clone()
            pos[i] = x
            return model(s._replace(positions=pos), empty_edges(), False, False, False).energy.sum()
        torch.testing.assert_close(pred.forces[i], -central_differences(energy_at, s.positions[i].clone()), atol=1e-7, rtol=1e-6)
    if periodic:
        def energy_strained(eps):
            sym = 0.5 * (eps + eps.T)
            return model(s._replace(positions=s.positions @ (torch.eye(3, dtype=torch.float64) + sym),
                                    cell=s.cell @ (torch.eye(3, dtype=torch.float64) + sym)), empty_edges(), False, False, False).energy.sum()
        volume = abs(float(torch.linalg.det(s.cell[0])))
        numeric = central_differences(energy_strained, torch.zeros(3, 3, dtype=torch.float64)) / volume
        torch.testing.assert_close(pred.stress[0], 0.5 * (numeric + numeric.T), atol=1e-7, rtol=1e-6)


def test_energy_invariant_under_rotation_translation_permutation_and_image_choice():
    atoms = triclinic_ionic_cell(seed=5)
    model = _point_charge_model(r_off=3.0, tol=1e-10)
    e0 = float(model(system_of(atoms), empty_edges(), False).energy)
    moved = atoms.copy()
    moved.translate([0.3, -1.1, 2.0])
    moved.wrap()  # different periodic images of the same atoms
    assert float(model(system_of(moved), empty_edges(), False).energy) == pytest.approx(e0, abs=1e-8)
    perm = np.random.default_rng(0).permutation(len(atoms))
    assert float(model(system_of(atoms[perm]), empty_edges(), False).energy) == pytest.approx(e0, abs=1e-8)
    rotated = atoms.copy()
    rotated.rotate(37.0, (1.0, 2.0, 0.5), rotate_cell=True)
    assert float(model(system_of(rotated), empty_edges(), False).energy) == pytest.approx(e0, abs=1e-8)
    cluster = random_cluster(6, seed=1)
    ec = float(model(system_of(cluster), empty_edges(), False).energy)
    cluster.rotate(71.0, (0.3, -1.0, 0.2))
    cluster.translate([5.0, 0.0, -3.0])
    assert float(model(system_of(cluster), empty_edges(), False).energy) == pytest.approx(ec, abs=1e-10)


def test_batched_systems_equal_separate_evaluations():
    a, b, c = triclinic_ionic_cell(seed=1), random_cluster(4, seed=2), rock_salt(rattle=0.05)
    model = _point_charge_model(r_off=2.5)
    batched = model(system_of([a, b, c]), empty_edges(), True, True, False)
    for k, atoms in enumerate((a, b, c)):
        single = model(system_of(atoms), empty_edges(), True, True, False)
        torch.testing.assert_close(batched.energy[k], single.energy[0])
        torch.testing.assert_close(batched.stress[k], single.stress[0])


def test_charged_periodic_cell_has_background_energy_independent_of_alpha():
    atoms = triclinic_ionic_cell()
    s = system_of(atoms, total_charge=[1.0])
    q = ionic_charges(atoms)
    q[0] += 1.0
    e = [float(coulomb_atomic_energies(s, q, 0.0, 0.0, 1e-12, rc).sum()) for rc in (5.0, 9.0)]
    assert e[0] == pytest.approx(e[1], abs=1e-9)


def test_ewald_on_a_non_periodic_direction_is_refused_clearly():
    atoms = triclinic_ionic_cell()
    atoms.pbc = [True, True, False]
    model = _point_charge_model(r_off=2.5)
    with pytest.raises(InvalidSystemError, match="all three directions periodic"):
        model(system_of(atoms), empty_edges())
    scripted = torch.jit.script(model)
    with pytest.raises(torch.jit.Error, match="all three directions periodic"):
        scripted(system_of(atoms), empty_edges(), True, False, False)


def test_charged_system_without_stated_total_charge_is_refused_by_fixed_charges():
    lone_ion = system_of(random_cluster(4, seed=0)[:3])  # Na Cl Na: +1 e
    model = _point_charge_model(r_off=0.0)
    with pytest.raises(InvalidSystemError, match="state the total charge"):
        model(lone_ion, empty_edges())
    stated = lone_ion._replace(total_charge=torch.tensor([1.0], dtype=torch.float64))
    assert torch.isfinite(model(stated, empty_edges()).energy).all()
