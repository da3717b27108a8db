"""A charged system (total charge +1 e) gives the same energy in every path that evaluates a
potential with learned charges: the Potential itself, the ASE calculator, md (initial state,
md.run, ``mlip md`` from a structure file) and the Hessian; and that energy differs from the
neutral one (the total charge really reaches the charge head). The calculator also reports
the learned per-atom charges (e)."""
import ase.io
import numpy as np
import pytest
import torch

import md
import mlip
from md.checkpoint import read_checkpoint
from md.cli_run import run_from_config
from md.config import MDConfig
from physics_systems import random_cluster, rock_salt, single_thread, system_of  # noqa: F401

CHARGE_E = 1.0


def coulomb_potential(seed=0, committee_size=1):
    cfg = mlip.ModelConfig(elements=("Na", "Cl"), cutoff=3.5, l_max=1, channels=6, n_layers=2, radial_hidden=8,
                           readout_hidden=8, avg_num_neighbors=4.0, long_range="coulomb",
                           coulomb_real_space_cutoff=6.0)
    pot = mlip.build_potential(cfg, seed=seed, dtype=torch.float64, committee_size=committee_size)
    learned = pot.model.terms[0]
    members = list(learned.members) if committee_size > 1 else [learned]
    with torch.no_grad():  # ionic charges ~ ±0.8 e
        for m in members:
            m.charge_head.shift.copy_(torch.tensor([0.8, -0.8]))
    return pot


def charged_cluster():
    """7 ions (4 Na, 3 Cl), finite; +1 e is the natural total charge of this composition."""
    atoms = random_cluster(8, seed=3, box=6.0, min_dist=2.0)[:7]
    return atoms


def potential_energy(pot, atoms, total_charge):
    s = system_of(atoms, total_charge=None if total_charge is None else [total_charge])
    return float(pot(s, mlip.neighbor_list(s, pot.cutoff)).energy[0])


def calculator_energy(pot, atoms, total_charge):
    a = atoms.copy()
    if total_charge is not None:
        a.info["total_charge"] = total_charge
    a.calc = mlip.MLIPCalculator(pot)
    return a.get_potential_energy()


@pytest.fixture(scope="module")
def pot():
    return coulomb_potential()


@pytest.mark.parametrize("structure", ["cluster", "rock_salt"])
def test_charged_energy_is_the_same_in_potential_calculator_and_md(pot, structure):
    atoms = charged_cluster() if structure == "cluster" else rock_salt(rattle=0.05, seed=1)
    e_pot = potential_energy(pot, atoms, CHARGE_E)
    e_neutral = potential_energy(pot, atoms, None)
    assert abs(e_pot - e_neutral) > 1e-3  # the charge reaches the model
    assert calculator_energy(pot, atoms, CHARGE_E) == pytest.approx(e_pot, rel=1e-12, abs=1e-12)
    assert calculator_energy(pot, atoms, None) == pytest.approx(e_neutral, rel=1e-12, abs=1e-12)
    # md: the charge stated on the Atoms, or given as an argument
    stated = atoms.copy()
    stated.info["total_charge"] = CHARGE_E
    for structure_in, kwargs in ((stated, {}), (atoms, {"total_charge_e": CHARGE_E})):
        state = md.initial_state(structure_in, pot, temperature_K=0.0, seed=0, **kwargs)
        assert state.total_charge_e == CHARGE_E
        assert float(state.potential_energy) == pytest.approx(e_pot, rel=1e-12, abs=1e-12)
    neutral_state = md.initial_state(atoms, pot, temperature_K=0.0, seed=0)
    assert neutral_state.total_charge_e == 0.0
    assert float(neutral_state.potential_energy) == pytest.approx(e_neutral, rel=1e-12, abs=1e-12)


def test_md_run_keeps_the_total_charge_at_every_step(pot):
    atoms = charged_cluster()
    state = md.initial_state(atoms, pot, temperature_K=200.0, seed=4, total_charge_e=CHARGE_E)
    state = md.run(state, pot, md.VelocityVerlet(timestep_fs=1.0), 5)
    assert state.step == 5 and state.total_charge_e == CHARGE_E
    moved = atoms.copy()
    moved.positions = state.positions.numpy()
    e_calc = calculator_energy(pot, moved, CHARGE_E)
    assert float(state.potential_energy) == pytest.approx(e_calc, rel=1e-12, abs=1e-12)
    assert abs(e_calc - calculator_energy(pot, moved, None)) > 1e-3
    a = moved.copy()
    a.info["total_charge"] = CHARGE_E
    a.calc = mlip.MLIPCalculator(pot)
    np.testing.assert_allclose(state.forces.numpy(), a.get_forces(), rtol=0, atol=1e-10)


def test_mlip_md_reads_the_total_charge_from_the_structure_file(pot, tmp_path):
    atoms = charged_cluster()
    atoms.info["total_charge"] = CHARGE_E
    path = tmp_path / "ion.extxyz"
    ase.io.write(path, atoms)
    config = MDConfig(structure=str(path), ensemble="nve", temperature_K=100.0, timestep_fs=1.0, steps=4,
                      output_dir=str(tmp_path / "run"), thermo_interval=2, trajectory_interval=2,
                      checkpoint_interval=4, shadow_order=2, progress=False)
    result = run_from_config(config, pot)
    state = result.state
    assert state.total_charge_e == CHARGE_E
    final = atoms.copy()
    final.positions = state.positions.numpy()
    assert float(state.potential_energy) == pytest.approx(calculator_energy(pot, final, CHARGE_E), rel=1e-12, abs=1e-12)
    # the restart checkpoint carries it too
    saved = read_checkpoint(result.files["checkpoint"])
    assert float(saved["state"]["total_charge"][0]) == CHARGE_E


def test_hessian_of_a_charged_system_is_the_derivative_of_its_calculator_forces(pot):
    atoms = charged_cluster()[:4]
    charged = atoms.copy()
    charged.info["total_charge"] = CHARGE_E
    system = mlip.system_from_atoms(charged)
    assert float(system.total_charge[0]) == CHARGE_E
    hess = mlip.hessian(pot, system).numpy()
    np.testing.assert_allclose(hess, mlip.hessian(pot, mlip.system_from_atoms(atoms), total_charge=CHARGE_E).numpy(),
                               rtol=0, atol=1e-12)
    calc = mlip.MLIPCalculator(pot)
    h = 1e-4
    fd = np.zeros_like(hess)
    for k in range(3 * len(atoms)):
        rows = []
        for sign in (1.0, -1.0):
            a = charged.copy()
            a.positions.reshape(-1)[k] += sign * h
            a.calc = calc
            rows.append(-a.get_forces().reshape(-1))
        fd[:, k] = (rows[0] - rows[1]) / (2 * h)
    np.testing.assert_allclose(hess, fd, rtol=0, atol=1e-6 * max(1.0, np.abs(hess).max()))
    neutral = mlip.hessian(pot, mlip.system_from_atoms(atoms)).numpy()
    assert np.abs(hess - neutral).max() > 1e-4


@pytest.mark.parametrize("committee_size", [1, 2])
def test_calculator_reports_learned_charges_that_sum_to_the_total_charge(committee_size):
    pot = coulomb_potential(seed=1, committee_size=committee_size)
    atoms = charged_cluster()
    atoms.info["total_charge"] = CHARGE_E
    atoms.calc = mlip.MLIPCalculator(pot)
    q = atoms.get_charges()
    assert q.shape == (len(atoms),)
    assert q.sum() == pytest.approx(CHARGE_E, abs=1e-12)
    s = mlip.system_from_atoms(atoms)
    np.testing.assert_allclose(q, pot.charges(s, mlip.neighbor_list(s, pot.cutoff)).detach().numpy(), rtol=0, atol=1e-14)
    na = atoms.numbers == 11
    assert q[na].min() > 0 > q[~na].max()  # environment-dependent, but ionic signs survive
    # changing the stated total charge triggers a new calculation (ASE does not track info)
    e_charged = atoms.get_potential_energy()
    atoms.info["total_charge"] = 0.0
    assert atoms.get_charges().sum() == pytest.approx(0.0, abs=1e-12)
    assert abs(atoms.get_potential_energy() - e_charged) > 1e-3


def test_calculator_without_charges_says_so():
    cfg = mlip.ModelConfig(elements=("Na", "Cl"), cutoff=3.5, l_max=1, channels=4, n_layers=1)
    atoms = charged_cluster()
    atoms.calc = mlip.MLIPCalculator(mlip.build_potential(cfg))
    atoms.get_potential_energy()
    with pytest.raises(Exception, match="predicts no charges"):
        atoms.get_charges()
