"""The ASE calculator: ASE's own numerical derivatives agree; caching; bad input errors."""
import ase
import ase.build
import numpy as np
import pytest
import torch
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

import mlip
from mlip.errors import InvalidSystemError, UnknownElementError
from model_fixtures import random_crystal, random_molecule, small_potential


@pytest.fixture(scope="module")
def calc():
    return mlip.MLIPCalculator(small_potential(torch.float64))


def test_ase_numerical_forces_agree(calc):
    atoms = random_molecule(seed=12)
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-5), rtol=1e-6, atol=1e-6)


def test_ase_numerical_stress_agrees_on_periodic_cell(calc):
    atoms = random_crystal(seed=13)
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-5), atol=1e-8)


def test_energies_sum_to_energy_and_free_energy(calc):
    atoms = random_crystal(seed=14)
    atoms.calc = calc
    assert abs(atoms.get_potential_energies().sum() - atoms.get_potential_energy()) < 1e-9
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()


def test_recomputes_only_when_atoms_change():
    pot = small_potential()
    calls = []
    orig = pot.forward

    def counting(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    pot.forward = counting
    atoms = random_molecule(seed=15)
    atoms.calc = mlip.MLIPCalculator(pot)
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_potential_energy()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert len(calls) == 2


def test_stress_of_molecule_without_cell_is_refused(calc):
    atoms = random_molecule(seed=16)
    atoms.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.get_stress()


def test_calculator_loads_from_path_and_float32(tmp_path):
    path = small_potential().save(tmp_path / "p.pt")
    atoms = random_molecule(seed=17)
    atoms.calc = mlip.MLIPCalculator(str(path), dtype=torch.float32)
    e32 = atoms.get_potential_energy()
    atoms.calc = mlip.MLIPCalculator(str(path))
    assert abs(e32 - atoms.get_potential_energy()) < 1e-4 * abs(e32)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: ase.build.molecule("CH3Cl"), UnknownElementError, r"\['Cl'\] not known"),
        (lambda: ase.Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]]), InvalidSystemError, "not finite"),
        (lambda: ase.Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]], cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True), InvalidSystemError, "degenerate"),
        (lambda: ase.Atoms(), InvalidSystemError, "empty"),
        (lambda: ase.Atoms("H2", positions=[[0, 0, 0], [0.01, 0, 0]]), InvalidSystemError, "overlap"),
    ],
    ids=["unknown_element", "nan_positions", "degenerate_cell", "empty", "overlapping_atoms"],
)
def test_bad_input_gets_clear_error(calc, make, error, match):
    atoms = make()
    atoms.calc = calc
    with pytest.raises(error, match=match):
        atoms.get_potential_energy()
