"""Cubic-crystal properties of any ASE calculator by finite differences (no autograd).

Used for the reference (EMT) and, identically, for the trained potentials (through
``mlip.MLIPCalculator``), so the benchmark's property errors do not depend on the autograd code
that trains them. Units: Å, eV, GPa.

* lattice constant a0: root of the pressure P(a) = −tr σ / 3 of the one-atom primitive cell
  (Brent's method on a bracket around a guess);
* bulk modulus: Birch–Murnaghan fit of E(V) over ±3 % in volume around a0 (ase.eos), and,
  as a check, (C11 + 2 C12)/3;
* C11, C12, C44: central differences of the stress of the primitive cell at a0 under strains
  ±h (Voigt, engineering shear), averaged over the cubic axes; clamped = relaxed ions for a
  one-atom cell.
"""
from __future__ import annotations

import numpy as np
from ase import units
from ase.build import bulk
from ase.eos import EquationOfState
from scipy.optimize import brentq

GPA = 1.0 / units.GPa  # eV/Å³ -> GPa


def primitive(symbol: str, crystal: str, a: float, calc):
    atoms = bulk(symbol, crystal, a=a)
    atoms.calc = calc
    return atoms


def pressure_GPa(symbol, crystal, a, calc) -> float:
    return float(-primitive(symbol, crystal, a, calc).get_stress(voigt=True)[:3].mean() * GPA)


def lattice_constant_A(symbol, crystal, calc, guess_A: float, tol_A: float = 1e-7) -> float:
    """Equilibrium lattice constant, Å: P(a) = 0 (widening a ±2 % bracket until P changes sign)."""
    lo, hi = guess_A * 0.98, guess_A * 1.02
    f = lambda a: pressure_GPa(symbol, crystal, a, calc)
    for _ in range(10):
        if f(lo) > 0 > f(hi):
            return float(brentq(f, lo, hi, xtol=tol_A))
        lo, hi = lo * 0.97, hi * 1.03
    raise RuntimeError(f"no pressure root near a = {guess_A} Å")


def bulk_modulus_eos_GPa(symbol, crystal, calc, a0: float, n: int = 9, span: float = 0.03):
    """(B in GPa, a0 from the fit in Å): Birch–Murnaghan fit of E(V) over ±span in volume."""
    volumes, energies = [], []
    for s in np.linspace(-span, span, n):
        atoms = primitive(symbol, crystal, a0 * (1.0 + s) ** (1.0 / 3.0), calc)
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    v0, _, b = eos.fit()
    n_atoms = len(primitive(symbol, crystal, a0, calc))
    a_fit = (4.0 * v0 / n_atoms) ** (1.0 / 3.0) if crystal == "fcc" else float("nan")
    return float(b * GPA), float(a_fit)


def cubic_elastic_GPa(symbol, crystal, calc, a0: float, h: float = 1e-4):
    """(C11, C12, C44) in GPa by central differences of the stress under strain ±h."""
    c = np.zeros((6, 6))
    base = primitive(symbol, crystal, a0, calc)
    for j in range(6):
        sig = []
        for sign in (1.0, -1.0):
            voigt = np.zeros(6)
            voigt[j] = sign * h
            xx, yy, zz, yz, xz, xy = voigt[0], voigt[1], voigt[2], voigt[3] / 2, voigt[4] / 2, voigt[5] / 2
            eps = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            atoms = base.copy()
            atoms.set_cell(base.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            atoms.calc = calc
            sig.append(atoms.get_stress(voigt=True))
        c[:, j] = (sig[0] - sig[1]) / (2.0 * h) * GPA
    c11 = np.mean([c[0, 0], c[1, 1], c[2, 2]])
    c12 = np.mean([c[0, 1], c[0, 2], c[1, 2], c[1, 0], c[2, 0], c[2, 1]])
    c44 = np.mean([c[3, 3], c[4, 4], c[5, 5]])
    return float(c11), float(c12), float(c44)


def cubic_properties(symbol, crystal, calc, guess_A: float) -> dict:
    """a0 (Å), B (GPa, E(V) fit), C11, C12, C44 (GPa) at a0, and B from the C's as a check."""
    a0 = lattice_constant_A(symbol, crystal, calc, guess_A)
    b_eos, a_eos = bulk_modulus_eos_GPa(symbol, crystal, calc, a0)
    c11, c12, c44 = cubic_elastic_GPa(symbol, crystal, calc, a0)
    return {"lattice_constant_A": a0, "bulk_modulus_GPa": b_eos, "c11_GPa": c11, "c12_GPa": c12, "c44_GPa": c44,
            "bulk_modulus_from_c_GPa": (c11 + 2.0 * c12) / 3.0, "lattice_constant_eos_A": a_eos}
