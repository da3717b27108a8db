"""NPT physics on known answers: an ideal gas's mean volume (analytic), the mean pressure of a
Lennard-Jones crystal equal to the target within its block error, the MTK conserved quantity
flat with fluctuations shrinking as h², and the effective energy of stochastic cell rescaling
bounded."""
import math

import ase
import numpy as np
import pytest

import md
from mlip import units
from mlip.types import Prediction
from md.state import pressure_GPa, volume_A3
from md_systems import argon_crystal, argon_lj
from test_md_thermostats import block_stats


class IdealGas:
    """No interactions: zero energy, forces and stress (cutoff 0: no neighbour list)."""

    cutoff = 0.0

    def __call__(self, system, edges, compute_stress=False):
        n = system.cell.shape[0]
        zeros = system.positions.new_zeros
        return Prediction(energy=zeros(n), forces=zeros(system.positions.shape),
                          stress=zeros((n, 3, 3)) if compute_stress else None)


def ideal_gas_volumes(integrator, n_replicas, n_steps, n_equilibrate, temperature_K):
    atoms = ase.Atoms("Ar4", scaled_positions=np.random.default_rng(0).uniform(size=(4, 3)), cell=[9.0] * 3, pbc=True)
    gas = IdealGas()
    means, variances = [], []
    for seed in range(n_replicas):
        state = integrator.init(md.initial_state(atoms, gas, temperature_K=temperature_K, seed=seed))
        volumes = []
        for k in range(n_equilibrate + n_steps):
            state = integrator.step(state, gas)
            if k >= n_equilibrate:
                volumes.append(volume_A3(state))
        means.append(np.mean(volumes))
        variances.append(np.var(volumes))
    return np.array(means), np.array(variances), md.degrees_of_freedom(state)


def test_ideal_gas_mean_volume_is_analytic_under_stochastic_cell_rescaling():
    """The volume measure dV and N_f kinetic degrees of freedom give p(V) ∝ V^{N_f/3} e^{−PV/kT}:
    ⟨V⟩ = (N_f/3 + 1) kT/P, var V = (N_f/3 + 1) (kT/P)² (4 atoms, centre of mass at rest:
    N_f = 9, so 4 kT/P; N_f/3 = 3 or N + 1 = 5 would be other measures)."""
    T, P_GPa = 300.0, 0.05
    scale = units.BOLTZMANN_EV_PER_K * T / (P_GPa / units.EV_PER_A3_IN_GPA)  # kT/P, Å^3
    integrator = md.StochasticCellRescaling(10.0, T, P_GPa, tau_fs=40.0, barostat_tau_fs=200.0,
                                            compressibility_per_GPa=1.0 / P_GPa)
    means, variances, n_dof = ideal_gas_volumes(integrator, 6, 1500, 100, T)
    shape = n_dof / 3 + 1
    assert n_dof == 9 and shape == 4
    mean, error = means.mean() / scale, means.std(ddof=1) / math.sqrt(len(means)) / scale
    assert error < 0.2  # precise enough to tell 4 from 3 and 5
    assert abs(mean - shape) < 4 * error, (mean, error)
    variance = variances.mean() / scale**2
    assert abs(variance - shape) < 0.25 * shape, variance


def lj_npt_run(integrator, n_steps, n_equilibrate, seed=1):
    lj = argon_lj(6.5, smooth_onset_A=5.5)
    state = integrator.init(md.initial_state(argon_crystal(2, a_A=5.36), lj, temperature_K=integrator.temperature_K,
                                             seed=seed, skin_A=0.5))
    state = md.run(state, lj, integrator, n_equilibrate)
    pressures, volumes, conserved = [], [], []
    for _ in range(n_steps):
        state = integrator.step(state, lj)
        pressures.append(pressure_GPa(state))
        volumes.append(volume_A3(state))
        conserved.append(integrator.conserved_energy_eV(state))
    return np.array(pressures), np.array(volumes), np.array(conserved), state


@pytest.mark.parametrize("integrator", [
    md.StochasticCellRescaling(10.0, 40.0, 0.1, tau_fs=100.0, barostat_tau_fs=200.0, compressibility_per_GPa=0.4),
    md.MTK(10.0, 40.0, 0.1, tau_fs=200.0, barostat_tau_fs=300.0),
], ids=["scr", "mtk"])
def test_mean_pressure_equals_the_target_within_its_error(integrator):
    """⟨P⟩ = P₀ up to O(kT/V) (the barostats' stationarity conditions are ⟨√V (P + kT/2V)⟩ =
    P₀⟨√V⟩ for SCR and ⟨V (P − P₀)⟩ = −⟨2K/N_f⟩ for MTK); the block error must be small
    next to the target for the check to mean something. (MTK's barostat
    momentum is the time integral of its force, so its mean pressure converges fast.)"""
    pressures, volumes, _, _ = lj_npt_run(integrator, 1500, 300)
    mean, error, _, _ = block_stats(pressures, 10)
    offset = units.BOLTZMANN_EV_PER_K * integrator.temperature_K / volumes.mean() * units.EV_PER_A3_IN_GPA
    assert error < 0.01  # GPa: a tenth of the target
    assert abs(mean - integrator.pressure_GPa) < 3.5 * error + offset, (mean, error, offset)


def test_mtk_conserved_quantity_fluctuates_as_h_squared():
    runs = {}
    for h in (8.0, 4.0):
        integrator = md.MTK(h, 40.0, 0.1, tau_fs=200.0, barostat_tau_fs=300.0, flexibility="triclinic")
        _, _, conserved, state = lj_npt_run(integrator, int(1600 / h), 0)
        runs[h] = (np.std(conserved), state)
    ratio = runs[8.0][0] / runs[4.0][0]
    assert 3.0 < ratio < 5.3, ratio  # second order
    assert runs[4.0][0] / runs[4.0][1].n_atoms < 2e-5  # eV/atom
    assert abs(float(runs[4.0][1].system.cell[0, 0, 1])) > 1e-4  # the triclinic cell really sheared


def test_cell_rescaling_effective_energy_increments_shrink_faster_than_h():
    """The effective energy changes only by the integration error of each step (the barostat's
    bookkeeping is the log-ratio of forward and backward move probabilities); halving h more
    than halves the per-step change (measured ×2.6; O(h) first-order drift, see docs)."""
    rms = {}
    for h in (8.0, 4.0):
        integrator = md.StochasticCellRescaling(h, 40.0, 0.1, tau_fs=100.0, barostat_tau_fs=200.0,
                                                compressibility_per_GPa=0.4)
        _, _, conserved, state = lj_npt_run(integrator, int(1600 / h), 0)
        rms[h] = np.sqrt(np.mean(np.diff(conserved) ** 2)) / state.n_atoms
    kT = units.BOLTZMANN_EV_PER_K * 40.0
    assert rms[8.0] / rms[4.0] > 2.0, rms
    assert rms[4.0] < 1e-3 * kT, rms
