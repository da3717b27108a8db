"""Thermostats sample the canonical ensemble: the kinetic energy K of N_f quadratic degrees of
freedom is Gamma-distributed, <K> = N_f kT/2 and Var K = N_f (kT)²/2. Checked against block
averages (standard errors from 10 blocks) on cheap systems: independent harmonic oscillators
for Langevin, a chaotic 32-atom Lennard-Jones liquid for the global thermostats."""
import ase
import numpy as np
import pytest
import torch

import md
from md_systems import argon_liquid, argon_lj
from mlip import units


class Recorder(md.Reporter):
    """Collects K and the conserved energy every ``interval`` steps."""

    key = "recorder"

    def __init__(self, interval):
        self.interval = interval
        self.kinetic, self.conserved = [], []

    def report(self, state, context):
        self.kinetic.append(float(md.kinetic_energy_eV(state)))
        self.conserved.append(context.integrator.conserved_energy_eV(state))


def block_stats(x, n_blocks=10):
    """(mean, its standard error, variance, its standard error) from block averages."""
    x = np.asarray(x)
    blocks = x[: len(x) // n_blocks * n_blocks].reshape(n_blocks, -1)
    means, variances = blocks.mean(axis=1), blocks.var(axis=1)
    return (x.mean(), means.std(ddof=1) / np.sqrt(n_blocks), x.var(), variances.std(ddof=1) / np.sqrt(n_blocks))


def sample(atoms, forcefield, integrator, temperature_K, n_equilibrate, n_sample, interval, seed=11):
    state = integrator.init(md.initial_state(atoms, forcefield, temperature_K=temperature_K, seed=seed))
    state = md.run(state, forcefield, integrator, n_equilibrate)
    recorder = Recorder(interval)
    state = md.run(state, forcefield, integrator, n_sample, reporters=[recorder])
    return state, recorder


def assert_canonical(state, recorder, temperature_K, mean_tol, var_tol):
    n_dof = md.degrees_of_freedom(state)
    kT = units.BOLTZMANN_EV_PER_K * temperature_K
    mean, mean_err, var, var_err = block_stats(recorder.kinetic)
    mean_theory, var_theory = 0.5 * n_dof * kT, 0.5 * n_dof * kT**2
    print(f"N_f={n_dof} <K>/theory={mean / mean_theory:.4f}±{mean_err / mean_theory:.4f} "
          f"Var/theory={var / var_theory:.3f}±{var_err / var_theory:.3f}")
    assert abs(mean - mean_theory) < max(4 * mean_err, 0.005 * mean_theory) and abs(mean / mean_theory - 1) < mean_tol
    assert abs(var - var_theory) < max(4 * var_err, 0.05 * var_theory) and abs(var / var_theory - 1) < var_tol


@pytest.mark.slow  # ~4 s: long statistical MD run
def test_langevin_baoab_kinetic_energy_mean_and_variance_are_canonical():
    rng = np.random.default_rng(0)
    n_atoms = 40
    atoms = ase.Atoms(f"Ar{n_atoms}", positions=rng.normal(scale=3.0, size=(n_atoms, 3)))
    springs = md.Harmonic(torch.tensor(atoms.positions), torch.linspace(0.5, 2.0, n_atoms, dtype=torch.float64))
    integrator = md.LangevinBAOAB(timestep_fs=2.0, temperature_K=300.0, friction_per_fs=0.05)
    state, recorder = sample(atoms, springs, integrator, 300.0, 200, 6000, 5)
    assert state.constrained_dof == 0  # Langevin thermalises the centre of mass too
    assert_canonical(state, recorder, 300.0, mean_tol=0.02, var_tol=0.1)


@pytest.mark.slow  # ~5 s per thermostat: long statistical MD runs
@pytest.mark.parametrize("integrator", [md.Bussi(10.0, 120.0, tau_fs=100.0),
                                        md.NoseHooverChain(10.0, 120.0, tau_fs=100.0)],
                         ids=["bussi", "nose-hoover-chain"])
def test_global_thermostat_kinetic_energy_mean_and_variance_are_canonical(integrator):
    liquid, lj = argon_liquid(repeat=2, seed=1), argon_lj(7.0, smooth_onset_A=6.0)
    state, recorder = sample(liquid, lj, integrator, 120.0, 200, 2500, 2)
    assert state.constrained_dof == 3
    assert_canonical(state, recorder, 120.0, mean_tol=0.04, var_tol=0.25)
    # the effective energy is conserved far better than the kinetic energy fluctuates (what is
    # left is time-step error: it shrinks as h², measured 1.2, 0.30, 0.075 meV at 10, 5, 2.5 fs)
    kT = units.BOLTZMANN_EV_PER_K * 120.0
    spread = np.ptp(recorder.conserved) / (np.sqrt(0.5 * md.degrees_of_freedom(state)) * kT)
    print(f"conserved-energy spread / KE std = {spread:.4f}")
    assert spread < 0.05, spread


def test_bussi_rescale_conserves_zero_centre_of_mass_momentum_and_counts_reservoir():
    liquid, lj = argon_liquid(repeat=2, seed=2), argon_lj(7.0, smooth_onset_A=6.0)
    integrator = md.Bussi(5.0, 300.0, tau_fs=20.0)  # strong heating from 120 K
    state = integrator.init(md.initial_state(liquid, lj, temperature_K=120.0, seed=1))
    before = integrator.conserved_energy_eV(state)
    state = md.run(state, lj, integrator, 100)
    momentum = (state.masses[:, None] * state.velocities).sum(dim=0)
    assert float(momentum.abs().max()) < 1e-12
    assert float(state.extended.reservoir_eV) < -0.05  # energy flowed in from the reservoir
    assert abs(integrator.conserved_energy_eV(state) - before) < 1e-3 * abs(float(state.extended.reservoir_eV))
