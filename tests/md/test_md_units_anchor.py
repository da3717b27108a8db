"""Dimensional anchor: a harmonic oscillator integrated in Å, eV, amu, fs has period 2π√(m/k)."""
import math

import ase
import numpy as np
import torch

import md
from mlip import units


def test_harmonic_oscillator_period_in_fs_matches_2pi_sqrt_m_over_k():
    mass_amu, k_eV_per_A2 = 12.0, 3.0
    # m/k in amu Å²/eV, times 1 amu Å²/fs² per eV -> fs²
    expected_fs = 2.0 * math.pi * math.sqrt(mass_amu / k_eV_per_A2 * units.AMU_A2_PER_FS2_IN_EV)
    atoms = ase.Atoms("C", positions=[[0.1, 0.0, 0.0]], masses=[mass_amu])
    ff = md.Harmonic(torch.zeros(1, 3, dtype=torch.float64), k_eV_per_A2)
    state = md.initial_state(atoms, ff, velocities_A_per_fs=torch.zeros(1, 3))
    integrator = md.VelocityVerlet(timestep_fs=0.05)
    x, t = [], []
    for _ in range(int(0.8 * expected_fs / 0.05)):
        x.append(float(state.positions[0, 0]))
        t.append(state.time_fs)
        state = integrator.step(state, ff)
    x, t = np.array(x), np.array(t)
    # upward zero crossings, linearly interpolated
    i = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
    crossings = t[i] - x[i] * (t[i + 1] - t[i]) / (x[i + 1] - x[i])
    assert len(crossings) >= 1
    # first crossing upward happens at 3/4 of a period when starting at +x with v = 0
    period_fs = crossings[0] / 0.75
    assert abs(period_fs - expected_fs) / expected_fs < 1e-5, (period_fs, expected_fs)
    assert 125.0 < expected_fs < 131.0  # ~127.9 fs for C on a 3 eV/Å² spring
