"""The charge-equipped equivariant model: exact total charge, long-range tails beyond the
cutoff, TorchScript, save/load, ASE calculator and energy conservation in md."""
import ase
import numpy as np
import pytest
import torch

import mlip
from mlip.physics.charges import ChargeHead, conserve_total_charge
from physics_systems import random_cluster, rock_salt, single_thread, system_of  # noqa: F401

K_E = 14.399645351950548


def coulomb_potential(seed=0, baselines=None, dtype=torch.float64, **kw):
    cfg = dict(elements=("Na", "Cl"), cutoff=4.0, l_max=1, channels=8, n_layers=2, radial_hidden=8, readout_hidden=8,
               avg_num_neighbors=6.0, long_range="coulomb", coulomb_real_space_cutoff=6.0)
    cfg.update(kw)
    pot = mlip.build_potential(mlip.ModelConfig(**cfg), seed=seed, baselines=baselines, dtype=dtype)
    with torch.no_grad():  # ionic charges: Na ~ +0.8 e, Cl ~ -0.8 e
        pot.model.terms[0].charge_head.shift.copy_(torch.tensor([0.8, -0.8]))
    return pot


def evaluate(pot, atoms_list, stress=False, total_charge=None):
    s = system_of(atoms_list, total_charge=total_charge, dtype=pot.dtype)
    return pot(s, mlip.neighbor_list(s, pot.cutoff), compute_stress=stress), s


def test_charge_head_conserves_any_stated_total_charge_exactly():
    torch.manual_seed(0)
    head = ChargeHead(2, 8, 8).double()
    for p in head.parameters():
        torch.nn.init.normal_(p)
    scalars = torch.randn(10, 8, dtype=torch.float64)
    species = torch.randint(0, 2, (10,))
    sidx = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    total = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    q = head(scalars, species, sidx, total)
    torch.testing.assert_close(torch.zeros(3, dtype=torch.float64).index_add(0, sidx, q), total, rtol=0, atol=1e-14)
    raw = torch.randn(4, dtype=torch.float64)
    assert float(conserve_total_charge(raw, torch.zeros(4, dtype=torch.int64), torch.tensor([0.0], dtype=torch.float64)).sum()) == pytest.approx(0.0, abs=1e-15)


def test_model_charges_sum_to_total_charge_in_batches_and_through_the_potential():
    pot = coulomb_potential()
    atoms = [random_cluster(6, seed=1), random_cluster(4, seed=2)[:3]]
    s = system_of(atoms, total_charge=[0.0, 1.0])
    q = pot.charges(s, mlip.neighbor_list(s, pot.cutoff))
    torch.testing.assert_close(torch.zeros(2, dtype=torch.float64).index_add(0, s.system_index, q), torch.tensor([0.0, 1.0], dtype=torch.float64))
    pot.return_charges = True
    pred, _ = evaluate(pot, atoms, total_charge=[0.0, 1.0])
    torch.testing.assert_close(pred.charges, q)


def test_coulomb_tail_acts_beyond_the_cutoff_where_a_local_model_is_flat():
    """Na+ ... Cl- pulled apart far beyond the 4 Å cutoff (times 2 layers): only the tail moves."""
    pot = coulomb_potential()
    local = mlip.build_potential(mlip.ModelConfig(**{**pot.config.to_dict(), "long_range": "none"}), seed=0, dtype=torch.float64)
    energies, local_energies = [], []
    for r in (10.0, 15.0, 20.0):
        pair = ase.Atoms("NaCl", positions=[[0, 0, 0], [r, 0, 0]])
        energies.append(float(evaluate(pot, pair)[0].energy))
        local_energies.append(float(evaluate(local, pair)[0].energy))
    assert local_energies[0] == pytest.approx(local_energies[2], abs=1e-12)
    pair = ase.Atoms("NaCl", positions=[[0, 0, 0], [10.0, 0, 0]])
    s = system_of(pair)
    q = pot.charges(s, mlip.neighbor_list(s, pot.cutoff))
    expected = K_E * float(q[0] * q[1]) * (1 / 10.0 - 1 / 20.0)  # isolated atoms: charges fixed
    assert energies[0] - energies[2] == pytest.approx(expected, rel=1e-10)
    assert abs(expected) > 0.1


@pytest.mark.parametrize("periodic", [False, True], ids=["cluster", "crystal"])
def test_coulomb_model_scripts_and_is_invariant_and_equivariant(periodic):
    pot = coulomb_potential(baselines=[{"kind": "zbl"}])
    atoms = rock_salt(rattle=0.1, seed=3) if periodic else random_cluster(8, seed=4)
    pred, s = evaluate(pot, atoms, stress=periodic)
    e = mlip.neighbor_list(s, pot.cutoff)
    scripted = torch.jit.script(pot.model)(s, e, True, periodic, False)
    torch.testing.assert_close(scripted.energy, pred.energy)
    torch.testing.assert_close(scripted.forces, pred.forces)
    rotated = atoms.copy()
    rotated.rotate(40.0, (1.0, -0.5, 0.3), rotate_cell=True)
    rotation_t = np.linalg.lstsq(atoms.positions, rotated.positions, rcond=None)[0]  # new = old @ R^T
    pred_r, _ = evaluate(pot, rotated, stress=periodic)
    assert float(pred_r.energy) == pytest.approx(float(pred.energy), abs=1e-9)
    np.testing.assert_allclose(pred_r.forces.numpy(), pred.forces.numpy() @ rotation_t, atol=1e-9)
    assert torch.isfinite(pred.forces).all()
    assert abs(float(pred.forces.sum(dim=0).norm())) < 1e-9  # translation invariance


def test_coulomb_model_forces_match_finite_differences_float64():
    pot = coulomb_potential(baselines=[{"kind": "zbl"}])
    atoms = random_cluster(6, seed=7)
    pred, s = evaluate(pot, atoms)
    h = 1e-5
    for i, d in ((0, 0), (2, 1), (5, 2)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, d] += h
        minus.positions[i, d] -= h
        numeric = -(float(evaluate(pot, plus)[0].energy) - float(evaluate(pot, minus)[0].energy)) / (2 * h)
        assert float(pred.forces[i, d]) == pytest.approx(numeric, abs=1e-7)


def test_coulomb_potential_round_trips_and_runs_in_the_calculator_with_stated_charge(tmp_path):
    pot = coulomb_potential(baselines=[{"kind": "zbl"}])
    loaded = mlip.load_potential(pot.save(tmp_path / "q.pt"))
    assert loaded.config.long_range == "coulomb"
    ion = random_cluster(4, seed=2)[:3]  # Na Cl Na
    ion.info["total_charge"] = 1.0
    ion.calc = mlip.MLIPCalculator(loaded)
    e = ion.get_potential_energy()
    ref, _ = evaluate(pot, ion, total_charge=[1.0])
    assert e == pytest.approx(float(ref.energy), rel=1e-12)
    neutral, _ = evaluate(pot, ion)
    assert abs(float(neutral.energy) - e) > 1e-3  # the stated charge matters


def test_md_conserves_energy_with_coulomb_and_baselines_shadow_monitor():
    md = pytest.importorskip("md")
    pot = coulomb_potential(baselines=[{"kind": "zbl"}], seed=5)
    atoms = rock_salt(rattle=0.02, seed=1)
    state = md.initial_state(atoms, pot, temperature_K=300.0, seed=2)
    monitor = md.EnergyMonitor(sample_interval=1, order=8)
    md.run(state, pot, md.VelocityVerlet(1.0), 40, reporters=[monitor])
    report = monitor.last_report
    assert report.verdict == "conservative", report.diagnosis
    assert report.shadow_rms_meV_per_atom < 0.05 * report.rms_meV_per_atom
