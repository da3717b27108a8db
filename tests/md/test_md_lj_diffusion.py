"""A short LJ-liquid run through md and md.analysis gives the self-diffusion coefficient of the
NIST benchmark state point in reduced units (T* = 0.851, ρ* = 0.84, cut at 3σ), within a loose
bound. The precise comparison (N = 500, three seeds, 200 τ each, within the combined error) is
benchmarks/lj_argon_diffusion.py; this one guards units and the MD -> trajectory -> MSD chain."""
import math

import ase.build
import numpy as np
import pytest

import md
from md.analysis.msd import msd
from mlip import units

EPSILON_EV, SIGMA_A, MASS_AMU = 119.8 * units.BOLTZMANN_EV_PER_K, 3.405, 39.948
TAU_FS = SIGMA_A * math.sqrt(MASS_AMU * units.AMU_A2_PER_FS2_IN_EV / EPSILON_EV)  # ≈ 2156 fs


@pytest.mark.slow
def test_lj_liquid_diffusion_in_reduced_units(tmp_path):
    rho, T_star = 0.84, 0.851
    atoms = ase.build.bulk("Ar", "fcc", a=(4 / rho) ** (1 / 3) * SIGMA_A, cubic=True).repeat(4)  # 256 atoms
    atoms.set_masses(np.full(len(atoms), MASS_AMU))
    lj = md.LennardJones(epsilon_eV=EPSILON_EV, sigma_A=SIGMA_A, cutoff_A=3 * SIGMA_A)
    dt_fs = 0.005 * TAU_FS
    state = md.initial_state(atoms, lj, temperature_K=3.0 * 119.8, seed=11)
    state = md.run(state, lj, md.Bussi(dt_fs, 2.0 * 119.8, 0.1 * TAU_FS), 200)  # melt the fcc start
    thermostat = md.Bussi(dt_fs, T_star * 119.8, 0.1 * TAU_FS)
    energies = []
    for k in range(12):  # 3 τ at T*; the canonical mean energy over the second half
        state = md.run(state, lj, thermostat, 50)
        if k >= 6:
            energies.append(float(md.kinetic_energy_eV(state)) + float(state.potential_energy))
    kinetic = np.mean(energies) - float(state.potential_energy)  # NVE at that energy: <T*> ≈ 0.851
    state = state.replace(velocities=state.velocities * math.sqrt(kinetic / float(md.kinetic_energy_eV(state))),
                          extended=None, step=0, time_fs=0.0)
    every = 50  # a frame every 0.25 τ
    reporters = [md.AseTrajectoryReporter(str(tmp_path / "trajectory.extxyz"), every),
                 md.ThermoReporter(str(tmp_path / "thermo.csv"), every)]
    md.run(state, lj, md.VelocityVerlet(dt_fs), 2400, reporters)  # 12 τ of NVE
    result = msd(str(tmp_path), n_blocks=3)
    D_star = result.D_A2_per_fs * TAU_FS / SIGMA_A**2
    temperatures = np.genfromtxt(tmp_path / "thermo.csv", delimiter=",", names=True)["temperature_K"]
    assert abs(temperatures.mean() / 119.8 - T_star) < 0.05
    # NIST: D* = 0.042 at N = 500; at N = 256 the periodic-image (Yeh–Hummer) slow-down is ≈ 0.002 more.
    # Unit slips (fs/ps, reduced time), a frozen solid (D* ≈ 0) or a wrong temperature fall outside.
    assert 0.030 < D_star < 0.050, D_star
