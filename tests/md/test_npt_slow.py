"""Longer NPT statistics (marked slow): the compressibility from volume fluctuations equals the
one of the force field's own P(V) curve; MTK's ideal gas has the analytic mean volume; MTK's
conserved quantity shows no drift over 8 ps."""
import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

import md
from mlip import units
from mlip.ase_bridge import system_from_atoms
from mlip.neighbor_list import neighbor_list
from md.state import volume_A3
from md_systems import argon_crystal, argon_lj
from test_md_thermostats import block_stats
from test_npt_physics import ideal_gas_volumes, lj_npt_run


def static_pressure_GPa(forcefield, a_A):
    """(P, V) of the perfect 32-atom fcc crystal with lattice constant ``a_A``: GPa, Å^3."""
    system = system_from_atoms(argon_crystal(2, a_A))
    stress = forcefield(system, neighbor_list(system, forcefield.cutoff), True).stress[0]
    return float(-torch.trace(stress) / 3) * units.EV_PER_A3_IN_GPA, float(torch.linalg.det(system.cell[0]))


@pytest.mark.slow  # ~30 s: 15 000 NPT steps
def test_volume_fluctuations_give_the_compressibility_of_the_pressure_volume_curve():
    """β_T = ⟨δV²⟩ / (kT ⟨V⟩) from NPT at 10 K (stochastic cell rescaling, LJ argon) against
    β_T = −(1/V) dV/dP of the same force field's P(V) at ⟨V⟩. At 10 K (T* = 0.08) the
    crystal is nearly harmonic, so the static P(V) is the isothermal one to ~2 %; within 10 %."""
    lj = argon_lj(6.5, smooth_onset_A=5.5)
    a0 = brentq(lambda a: static_pressure_GPa(lj, a)[0], 5.0, 5.6)
    T = 10.0
    integrator = md.StochasticCellRescaling(10.0, T, 0.0, tau_fs=100.0, barostat_tau_fs=100.0,
                                            compressibility_per_GPa=0.3)
    state = integrator.init(md.initial_state(argon_crystal(2, a0 * 1.002), lj, temperature_K=T, seed=4))
    state = md.run(state, lj, integrator, 300)
    volumes = []
    for _ in range(15000):
        state = integrator.step(state, lj)
        volumes.append(volume_A3(state))
    mean, _, variance, variance_error = block_stats(np.array(volumes), 10)
    kT = units.BOLTZMANN_EV_PER_K * T
    beta_fluctuations = variance / (kT * mean) / units.EV_PER_A3_IN_GPA  # 1/GPa
    a_mean = (mean / 8.0) ** (1.0 / 3.0)
    (p_low, v_low), (p_high, v_high) = (static_pressure_GPa(lj, a_mean * (1 - 0.002)),
                                        static_pressure_GPa(lj, a_mean * (1 + 0.002)))
    beta_curve = -(v_high - v_low) / (p_high - p_low) / mean
    assert variance_error / variance < 0.05  # precise enough for a 10 % test
    assert abs(beta_fluctuations / beta_curve - 1.0) < 0.10, (beta_fluctuations, beta_curve)


@pytest.mark.slow  # ~15 s
def test_ideal_gas_mean_volume_is_analytic_under_mtk():
    """⟨V⟩ = (N_f/3 + 1) kT/P as for stochastic cell rescaling (same measure dV)."""
    T, P_GPa = 300.0, 0.05
    scale = units.BOLTZMANN_EV_PER_K * T / (P_GPa / units.EV_PER_A3_IN_GPA)
    integrator = md.MTK(10.0, T, P_GPa, tau_fs=100.0, barostat_tau_fs=300.0)
    means, variances, n_dof = ideal_gas_volumes(integrator, 4, 2000, 200, T)
    mean, error = means.mean() / scale, means.std(ddof=1) / math.sqrt(len(means)) / scale
    assert error < 0.2
    assert abs(mean - (n_dof / 3 + 1)) < 4 * error, (mean, error)


@pytest.mark.slow  # ~10 s
@pytest.mark.parametrize("flexibility", ["isotropic", "triclinic"])
def test_mtk_conserved_quantity_has_no_drift_over_8_ps(flexibility):
    integrator = md.MTK(4.0, 40.0, 0.1, tau_fs=200.0, barostat_tau_fs=300.0, flexibility=flexibility)
    _, _, conserved, state = lj_npt_run(integrator, 2000, 0)
    times = np.arange(len(conserved)) * integrator.timestep_fs
    slope, intercept = np.polyfit(times, conserved, 1)
    fluctuation = np.std(conserved - (slope * times + intercept))
    drift = abs(slope) * times[-1]
    assert drift < fluctuation, (drift, fluctuation)  # the trend over 8 ps hides in the O(h²) wobble
    assert drift / state.n_atoms < 5e-6  # eV/atom over 8 ps (< 0.6 meV/atom/ns)
