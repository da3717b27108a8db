"""The built-in force fields: forces are minus the gradient of the energy, stress is the strain
derivative, the energy is continuous at the cutoff."""
import ase
import numpy as np
import pytest
import torch

import md
from mlip.errors import ConfigError
from md_systems import argon_liquid, argon_lj
from mlip.ase_bridge import system_from_atoms
from mlip.neighbor_list import neighbor_list


def energy_forces(ff, system, compute_stress=False):
    p = ff(system, neighbor_list(system, ff.cutoff) if ff.cutoff > 0 else md.neighbor_cache.build(system, 0, 0).edges,
           compute_stress)
    return p


@pytest.mark.parametrize("kwargs", [{}, {"shift": False}, {"smooth_onset_A": 5.5}], ids=["shifted", "bare", "smooth"])
def test_lj_forces_equal_minus_autograd_gradient(kwargs):
    system = system_from_atoms(argon_liquid(repeat=1, seed=3))
    lj = argon_lj(7.0, **kwargs)
    positions = system.positions.clone().requires_grad_(True)
    p = energy_forces(lj, system._replace(positions=positions))
    (grad,) = torch.autograd.grad(p.energy.sum(), positions)
    assert torch.allclose(p.forces, -grad, atol=1e-13, rtol=0)
    assert torch.allclose(p.forces.sum(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-13)


def test_lj_stress_equals_strain_derivative_over_volume():
    atoms = argon_liquid(repeat=1, seed=5)
    system = system_from_atoms(atoms)
    lj = argon_lj(7.0, smooth_onset_A=6.0)
    stress = energy_forces(lj, system, compute_stress=True).stress[0]
    volume = atoms.get_volume()
    numeric = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            values = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * 1e-6
                strained = atoms.copy()
                strained.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
                values.append(float(energy_forces(lj, system_from_atoms(strained)).energy[0]))
            numeric[a, b] = (values[0] - values[1]) / 2e-6 / volume
    assert np.allclose(stress.numpy(), 0.5 * (numeric + numeric.T), atol=1e-9)


def test_shifted_lj_energy_is_continuous_at_the_cutoff_and_bare_lj_is_not():
    r = torch.tensor([7.0 - 1e-9, 7.0 + 1e-9], dtype=torch.float64)
    for kwargs, continuous in (({}, True), ({"shift": False}, False), ({"smooth_onset_A": 6.0}, True)):
        lj = argon_lj(7.0, **kwargs)
        atoms = [ase.Atoms("Ar2", positions=[[0, 0, 0], [float(x), 0, 0]]) for x in r]
        energies = [float(energy_forces(lj, system_from_atoms(a)).energy[0]) for a in atoms]
        assert (abs(energies[0] - energies[1]) < 1e-9) == continuous, kwargs


def test_harmonic_energy_and_forces():
    reference = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    springs = md.Harmonic(reference, torch.tensor([2.0, 4.0]))
    system = system_from_atoms(ase.Atoms("H2", positions=[[0.1, 0, 0], [1.0, 2.0, 2.5]]))
    p = energy_forces(springs, system)
    assert float(p.energy[0]) == pytest.approx(0.5 * 2.0 * 0.01 + 0.5 * 4.0 * 0.25)
    assert torch.allclose(p.forces, torch.tensor([[-0.2, 0, 0], [0, 0, 2.0]], dtype=torch.float64))
    assert springs.cutoff == 0.0 and not springs.conserves_momentum


def test_bad_lj_parameters_are_rejected():
    with pytest.raises(ConfigError, match="sigma_A must be > 0"):
        md.LennardJones(0.01, -3.4, 8.0)
    with pytest.raises(ConfigError, match="smooth_onset_A must lie in"):
        md.LennardJones(0.01, 3.4, 8.0, smooth_onset_A=9.0)
