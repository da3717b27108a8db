"""Unit conventions and the few conversion constants mlip needs.

Base units: length Å, energy eV, mass amu (Da), charge e, temperature K, time fs.
Derived quantities carry their unit in their name (``timestep_fs``, ``pressure_GPa``).
Velocities are Å/fs. Constants are taken from ASE (CODATA 2014), not typed in.

Example:
    >>> from mlip import units
    >>> round(units.AMU_A2_PER_FS2_IN_EV, 3)   # 1 amu Å²/fs² in eV
    103.643
"""
from __future__ import annotations

import ase.units as _ase_units

#: Boltzmann constant, eV/K.
BOLTZMANN_EV_PER_K: float = float(_ase_units.kB)

#: Kinetic energy unit conversion: 1 amu·Å²/fs² expressed in eV (≈ 103.6427).
AMU_A2_PER_FS2_IN_EV: float = float(1.0 / _ase_units.fs**2)

#: Acceleration conversion: (eV/Å)/amu expressed in Å/fs² (≈ 9.6485e-3).
EV_PER_A_AMU_IN_A_PER_FS2: float = float(_ase_units.fs**2)

#: 1 eV/Å³ in GPa (≈ 160.2177).
EV_PER_A3_IN_GPA: float = float(1.0 / _ase_units.GPa)

#: ASE's internal time unit in fs (≈ 10.1805); only for converting at the ASE boundary.
ASE_TIME_UNIT_IN_FS: float = float(1.0 / _ase_units.fs)

#: Coulomb constant e²/(4π ε0) in eV·Å (≈ 14.3996).
COULOMB_EV_A: float = float(_ase_units.Hartree * _ase_units.Bohr)

#: Hartree in eV and Bohr in Å (for reading quantum-chemistry data).
HARTREE_IN_EV: float = float(_ase_units.Hartree)
BOHR_IN_A: float = float(_ase_units.Bohr)


def kinetic_energy_eV(masses_amu, velocities_A_per_fs):
    """Kinetic energy ½ Σ m v² in eV from masses (amu) and velocities (Å/fs).

    Works for torch tensors and numpy arrays; ``masses_amu`` has shape (n_atoms,) and
    ``velocities_A_per_fs`` (n_atoms, 3). Returns a scalar of the same library.
    """
    return 0.5 * AMU_A2_PER_FS2_IN_EV * (masses_amu[:, None] * velocities_A_per_fs**2).sum()


def temperature_K(kinetic_energy_eV: float, n_degrees_of_freedom: int) -> float:
    """Instantaneous temperature 2 KE / (N_dof k_B), K, from kinetic energy in eV."""
    if n_degrees_of_freedom <= 0:
        return 0.0
    return 2.0 * float(kinetic_energy_eV) / (n_degrees_of_freedom * BOLTZMANN_EV_PER_K)
