#!/usr/bin/env python3
"""Reference harmonic frequencies of ethanol: B3LYP/def2-SVP (PySCF) and GFN2-xTB (tblite).

Same electronic-structure settings as the training labels (benchmarks/datasets/make_ethanol.py):
each method's geometry is optimised (ASE BFGS, fmax 1e-3 eV/Å, from ``ase.build.molecule``),
then the Hessian is taken by central differences of the analytic forces (h = 0.005 Å) and
diagonalised with translations/rotations projected out (``mlip/vibrations.py``, loaded by path).

Runs in the data venv (numpy, ase, tblite, pyscf; no mlip), single-threaded, ~10 min:

    OMP_NUM_THREADS=1 /tmp/datavenv/bin/python benchmarks/validation/ethanol_reference_frequencies.py

Writes benchmarks/validation/results/ethanol_reference_frequencies.json (wavenumbers cm⁻¹,
optimised geometries Å, energies eV).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from atomic_json import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "results", "ethanol_reference_frequencies.json")
FMAX_EV_A = 1e-3
STEP_A = 0.005


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def method_calculator(label_fn):
    from ase.calculators.calculator import Calculator, all_changes

    class Labels(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            e, f = label_fn(self.atoms)
            self.results = {"energy": e, "forces": f}

    return Labels()


def analyse(name, label_fn, vib):
    from ase.build import molecule
    from ase.optimize import BFGS

    atoms = molecule("CH3CH2OH")
    atoms.calc = method_calculator(label_fn)
    t0 = time.time()
    BFGS(atoms, logfile=None).run(fmax=FMAX_EV_A, steps=300)
    energy = float(atoms.get_potential_energy())
    fmax = float(np.abs(atoms.get_forces()).max())
    forces_fn = lambda x: label_fn(_with_positions(atoms, x))[1]
    hess = vib.finite_difference_hessian(forces_fn, atoms.positions, STEP_A)
    freqs = vib.harmonic_wavenumbers(hess, atoms.positions, atoms.get_masses())
    print(f"{name}: E {energy:.6f} eV, max|F| {fmax:.1e} eV/Å, {time.time() - t0:.0f} s", flush=True)
    print("  " + " ".join(f"{w:.1f}" for w in freqs), flush=True)
    return {"energy_eV": energy, "max_force_eV/A": fmax, "symbols": atoms.get_chemical_symbols(),
            "positions_A": atoms.positions.tolist(), "wavenumbers_cm-1": [float(w) for w in freqs],
            "hessian_eV/A2": hess.tolist(), "wall_s": round(time.time() - t0, 1)}


def _with_positions(atoms, x):
    a = atoms.copy()
    a.calc = None
    a.positions = x
    return a


def main() -> int:
    vib = _load("vibrations", os.path.join(ROOT, "mlip", "vibrations.py"))  # numpy + ASE only
    data = _load("make_ethanol", os.path.join(ROOT, "benchmarks", "datasets", "make_ethanol.py"))
    out = {"method_notes": {"dft": "RKS B3LYP/def2-SVP, RI-JK def2-universal-jkfit, grid 3 + grid response (as make_ethanol.py)",
                            "xtb": "GFN2-xTB, tblite, accuracy 1.0, electronic temperature 300 K"},
           "optimizer": f"ASE BFGS fmax {FMAX_EV_A} eV/Å", "hessian": f"central differences of forces, h = {STEP_A} Å"}
    out["xtb"] = analyse("GFN2-xTB", data.xtb_labels, vib)
    out["dft"] = analyse("B3LYP/def2-SVP", data.dft_labels, vib)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_json(OUT, out, indent=1)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
