"""NVE with our Lennard-Jones reproduces ASE's VelocityVerlet with ASE's Lennard-Jones."""
import numpy as np
import torch
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.md.verlet import VelocityVerlet as AseVelocityVerlet

import md
from md_systems import EPSILON_EV, SIGMA_A, argon_liquid
from mlip import units


def test_nve_lj_reproduces_ase_velocity_verlet_trajectory_to_1e_10_A():
    cutoff_A, timestep_fs, n_steps = 8.0, 5.0, 100
    atoms = argon_liquid(repeat=2, seed=3)
    lj = md.LennardJones(EPSILON_EV, SIGMA_A, cutoff_A, shift=True)
    state = md.initial_state(atoms, lj, temperature_K=120.0, seed=7, skin_A=0.5)

    ase_atoms = atoms.copy()
    ase_atoms.calc = AseLennardJones(epsilon=EPSILON_EV, sigma=SIGMA_A, rc=cutoff_A, smooth=False)
    # ASE velocities are Å per ASE time unit: convert at the boundary only
    ase_atoms.set_velocities(state.velocities.numpy() * units.ASE_TIME_UNIT_IN_FS)
    ase_md = AseVelocityVerlet(ase_atoms, timestep=timestep_fs / units.ASE_TIME_UNIT_IN_FS)

    assert np.abs(ase_atoms.get_forces() - state.forces.numpy()).max() < 1e-12
    integrator = md.VelocityVerlet(timestep_fs)
    worst = 0.0
    for _ in range(n_steps):
        state = integrator.step(state, lj)
        ase_md.run(1)
        worst = max(worst, float(np.abs(ase_atoms.get_positions() - state.positions.numpy()).max()))
    assert state.neighbors.n_builds > 1  # the skin list was rebuilt along the way
    velocity_error = np.abs(ase_atoms.get_velocities() / units.ASE_TIME_UNIT_IN_FS - state.velocities.numpy()).max()
    print(f"max |r_md - r_ase| = {worst:.2e} Å, max |v_md - v_ase| = {velocity_error:.2e} Å/fs")
    assert worst <= 1e-10, worst
    assert velocity_error <= 1e-12, velocity_error
    # the atoms really moved (not a trivially static comparison)
    assert float(np.abs(state.positions.numpy() - atoms.get_positions()).max()) > 0.3
