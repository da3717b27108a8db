"""Turn a :class:`md.State` into a frame for writing (the only place positions get wrapped)."""
from __future__ import annotations

import numpy as np

from mlip import units


def wrapped_positions(state, wrap: bool = True) -> np.ndarray:
    """Positions (n_atoms, 3) in Å as float64 numpy, folded into the cell along periodic
    directions when ``wrap`` (the state itself keeps them unwrapped)."""
    positions = state.positions.detach().cpu().double().numpy()
    pbc = state.system.pbc[0].cpu().numpy()
    if not wrap or not pbc.any():
        return positions.copy()
    cell = state.system.cell[0].detach().cpu().double().numpy()
    fractional = np.linalg.solve(cell.T, positions.T).T
    fractional[:, pbc] = fractional[:, pbc] % 1.0
    fractional[:, pbc] = np.where(fractional[:, pbc] >= 1.0, 0.0, fractional[:, pbc])
    return fractional @ cell


def atoms_from_state(state, wrap: bool = True):
    """An ``ase.Atoms`` frame: wrapped positions (Å), cell, pbc, masses, energy and forces
    (as a single-point calculator), velocities in ASE units, step and time_fs in ``info``."""
    import ase
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = ase.Atoms(numbers=state.system.atomic_numbers.cpu().numpy(),
                      positions=wrapped_positions(state, wrap),
                      cell=state.system.cell[0].detach().cpu().double().numpy(),
                      pbc=state.system.pbc[0].cpu().numpy())
    atoms.set_masses(state.masses.detach().cpu().double().numpy())
    # ASE velocities are Å per ASE time unit; convert at this boundary only
    atoms.set_velocities(state.velocities.detach().cpu().double().numpy() * units.ASE_TIME_UNIT_IN_FS)
    atoms.info["step"] = int(state.step)
    atoms.info["time_fs"] = float(state.time_fs)
    atoms.calc = SinglePointCalculator(atoms, energy=float(state.potential_energy),
                                       forces=state.forces.detach().cpu().double().numpy())
    return atoms
