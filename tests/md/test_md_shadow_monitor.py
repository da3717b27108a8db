"""The shadow-Hamiltonian monitor: H̃ is conserved far better than H for conservative forces
(with the predicted h-scaling), and its drift flags forces that are not a smooth gradient."""
import math

import ase
import numpy as np
import pytest
import torch

import md
from md.shadow import central_difference_weights
from md_systems import argon_cluster13, argon_liquid, argon_lj
from mlip.types import Prediction


def monitored_run(atoms, forcefield, timestep_fs, n_steps, order=8, temperature_K=0.0, velocities=None, seed=0):
    state = md.initial_state(atoms, forcefield, temperature_K=temperature_K, seed=seed,
                             velocities_A_per_fs=velocities)
    monitor = md.EnergyMonitor(sample_interval=1, order=order)
    md.run(state, forcefield, md.VelocityVerlet(timestep_fs), n_steps, reporters=[monitor])
    return monitor.last_report


def exponent(values, timesteps):
    return math.log(values[0] / values[1]) / math.log(timesteps[0] / timesteps[1])


def test_central_difference_weights_are_exact_for_odd_polynomials():
    for order in (2, 4, 6, 8):
        weights = central_difference_weights(order)
        for power in range(1, order, 2):  # d/dt t^p at t = 0 is 1 for p = 1, else 0
            value = sum(a * (j**power - (-j) ** power) for j, a in enumerate(weights, start=1))
            assert value == pytest.approx(1.0 if power == 1 else 0.0, abs=1e-13)


def test_shadow_is_exact_for_harmonic_while_H_fluctuation_scales_as_h2():
    atoms = ase.Atoms("ArArAr", positions=[[0.2, 0, 0], [5, 0.1, 0], [0, 5, -0.15]])
    springs = md.Harmonic(torch.tensor(atoms.positions) * 0.9, torch.tensor([0.5, 1.0, 2.0]))
    timesteps = (4.0, 2.0)
    reports = [monitored_run(atoms, springs, h, int(800 / h)) for h in timesteps]
    h_rms = [r.rms_meV_per_atom for r in reports]
    print(f"harmonic: H exponent {exponent(h_rms, timesteps):.2f}, H̃/H RMS {reports[1].shadow_rms_meV_per_atom / h_rms[1]:.1e}")
    assert 1.8 < exponent(h_rms, timesteps) < 2.2, h_rms
    for r in reports:
        # the construction is exact for quadratic potentials: only round-off is left
        assert r.shadow_rms_meV_per_atom < 1e-9 * r.rms_meV_per_atom
        assert r.verdict == "conservative"


@pytest.mark.parametrize("order,expected", [(4, 4.0), (8, 8.0)])
def test_shadow_fluctuation_scales_as_h_to_the_order_for_anharmonic_lj_dimer(order, expected):
    atoms = ase.Atoms("Ar2", positions=[[0, 0, 0], [3.6, 0, 0]])
    lj = argon_lj(cutoff_A=12.0)
    v = torch.tensor([[-7e-4, 0, 0], [7e-4, 0, 0]])
    timesteps = (8.0, 4.0)
    reports = [monitored_run(atoms, lj, h, int(2000 / h), order=order, velocities=v) for h in timesteps]
    h_rms = [r.rms_meV_per_atom for r in reports]
    s_rms = [r.shadow_rms_meV_per_atom for r in reports]
    print(f"order {order}: H exponent {exponent(h_rms, timesteps):.2f}, H̃ exponent {exponent(s_rms, timesteps):.2f}")
    assert 1.7 < exponent(h_rms, timesteps) < 2.3, h_rms
    assert expected - 0.6 < exponent(s_rms, timesteps) < expected + 1.0, s_rms
    assert s_rms[0] < 1e-2 * h_rms[0]


def test_shadow_flat_while_H_oscillates_for_lj_cluster_at_large_timestep():
    # no pair crosses the 20 Å cutoff: a smooth, conservative system; 20 fs is a large step for argon
    report = monitored_run(argon_cluster13(), argon_lj(cutoff_A=20.0), 20.0, 300, temperature_K=30.0)
    assert report.rms_meV_per_atom > 1e-3  # H visibly oscillates
    assert report.shadow_rms_meV_per_atom < 1e-2 * report.rms_meV_per_atom
    assert abs(report.shadow_drift_meV_per_atom_per_ps) * report.duration_ps < 1e-2 * report.rms_meV_per_atom
    assert report.verdict == "conservative", report.diagnosis


def test_monitor_flags_cutoff_discontinuity_of_unshifted_lj_but_not_smooth_lj():
    liquid = argon_liquid(repeat=2, seed=1)
    smooth = monitored_run(liquid, argon_lj(7.0, smooth_onset_A=6.0), 5.0, 400, temperature_K=100.0)
    jumpy = monitored_run(liquid, argon_lj(7.0, shift=False), 5.0, 400, temperature_K=100.0)
    assert smooth.verdict == "conservative", smooth.diagnosis
    assert jumpy.verdict == "non-conservative", jumpy.diagnosis
    assert "not the gradient of one smooth energy" in jumpy.diagnosis
    assert jumpy.shadow_rms_meV_per_atom > 100 * smooth.shadow_rms_meV_per_atom


class RotationalForce:
    """LJ plus a small force c ẑ × (r − r₀) that no energy produces (curl ≠ 0)."""

    def __init__(self, base, centre, strength_eV_per_A2):
        self.base, self.centre, self.strength = base, torch.as_tensor(centre), strength_eV_per_A2
        self.cutoff = base.cutoff

    def __call__(self, system, edges, compute_stress=False):
        p = self.base(system, edges, compute_stress)
        d = system.positions - self.centre.to(system.positions)
        swirl = self.strength * torch.stack([-d[:, 1], d[:, 0], torch.zeros_like(d[:, 0])], dim=1)
        return Prediction(p.energy, p.forces + swirl, p.stress, p.atomic_energies)


def test_monitor_flags_rotational_force_as_non_conservative():
    atoms = argon_cluster13()
    lj = argon_lj(cutoff_A=20.0)
    clean = monitored_run(atoms, lj, 10.0, 300, temperature_K=30.0)
    swirl = monitored_run(atoms, RotationalForce(lj, atoms.get_center_of_mass(), 2e-4), 10.0, 300,
                          temperature_K=30.0)
    assert clean.verdict == "conservative", clean.diagnosis
    assert swirl.verdict == "non-conservative", swirl.diagnosis
    assert abs(swirl.shadow_drift_meV_per_atom_per_ps) > 1e3 * abs(clean.shadow_drift_meV_per_atom_per_ps)


def test_thermostat_report_says_shadow_does_not_apply():
    atoms = argon_cluster13()
    lj = argon_lj(cutoff_A=20.0)
    state = md.initial_state(atoms, lj, temperature_K=30.0, seed=0)
    monitor = md.EnergyMonitor(sample_interval=1, order=8)
    md.run(state, lj, md.Bussi(10.0, 30.0, tau_fs=200.0), 50, reporters=[monitor])
    report = monitor.last_report
    assert report.verdict == "not-applicable"
    assert report.shadow_rms_meV_per_atom is None
    assert "does not apply to bussi" in report.diagnosis
    assert np.isfinite(report.drift_meV_per_atom_per_ps)


def test_float32_round_off_shows_up_in_the_shadow_hamiltonian():
    reports = {}
    for dtype in (torch.float64, torch.float32):
        atoms, lj = argon_cluster13(), argon_lj(cutoff_A=20.0)
        state = md.initial_state(atoms, lj, temperature_K=30.0, seed=0, dtype=dtype)
        monitor = md.EnergyMonitor(sample_interval=1, order=8)
        md.run(state, lj, md.VelocityVerlet(5.0), 600, reporters=[monitor])
        reports[dtype] = monitor.last_report
    assert reports[torch.float64].verdict == "conservative"
    assert reports[torch.float32].verdict == "non-conservative", reports[torch.float32].diagnosis
    assert reports[torch.float32].shadow_rms_meV_per_atom > 1e3 * reports[torch.float64].shadow_rms_meV_per_atom
