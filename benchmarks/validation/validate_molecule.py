"""Validate a molecular potential on harmonic vibrational frequencies against its reference.

    python benchmarks/validation/validate_molecule.py POTENTIAL \
        --reference benchmarks/validation/results/ethanol_reference_frequencies.json [--output FILE.json]

POTENTIAL is a shipped name or a file. The reference JSON (made by
``ethanol_reference_frequencies.py`` in the PySCF/tblite venv) holds the B3LYP/def2-SVP and
GFN2-xTB minima and harmonic wavenumbers. The potential is treated exactly like the reference:
geometry optimised from the reference method's minimum (ASE BFGS, fmax 1e-3 eV/Å), Hessian by
central differences of the forces (h = 0.005 Å; this includes baselines evaluated outside
torch, e.g. GFN2-xTB), Eckart projection, wavenumbers sorted ascending and compared mode by
mode. Units: cm⁻¹, Å, eV.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from ase import Atoms
from ase.optimize import BFGS

import mlip
from mlip.vibrations import atoms_hessian, compare, harmonic_wavenumbers

from atomic_json import write_json

FMAX_EV_A = 1e-3
STEP_A = 0.005


def frequencies(potential, reference):
    atoms = Atoms(symbols=reference["symbols"], positions=np.array(reference["positions_A"]))
    atoms.calc = mlip.MLIPCalculator(potential)
    BFGS(atoms, logfile=None).run(fmax=FMAX_EV_A, steps=500)
    rmsd = float(np.sqrt(np.mean(np.sum((atoms.positions - np.array(reference["positions_A"])) ** 2, axis=1))))
    hess = atoms_hessian(atoms, STEP_A)
    return harmonic_wavenumbers(hess, atoms.positions, atoms.get_masses()), rmsd, atoms


def bond_lengths(atoms):
    """Heavy-atom bonds and O-H: a compact geometry fingerprint (Å)."""
    d = atoms.get_all_distances()
    sym = atoms.get_chemical_symbols()
    out = {}
    for i in range(len(atoms)):
        for j in range(i + 1, len(atoms)):
            pair = "-".join(sorted((sym[i], sym[j])))
            if pair in ("C-C", "C-O") and d[i, j] < 1.7 or pair == "H-O" and d[i, j] < 1.2:
                out.setdefault(pair, []).append(round(float(d[i, j]), 4))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("potential")
    p.add_argument("--reference", required=True)
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ref = json.load(open(args.reference))
    potential = mlip.load_potential(args.potential, dtype=torch.float64)
    w_model, rmsd, atoms = frequencies(potential, ref["dft"])
    w_dft = np.array(ref["dft"]["wavenumbers_cm-1"])
    w_xtb = np.array(ref["xtb"]["wavenumbers_cm-1"])
    result = {
        "potential": args.potential,
        "reference": os.path.relpath(args.reference),
        "protocol": f"BFGS fmax {FMAX_EV_A} eV/Å from the B3LYP minimum; central-difference Hessian h {STEP_A} Å; Eckart projection",
        "geometry_rmsd_to_dft_minimum_A": rmsd,
        "bonds_model_A": bond_lengths(atoms),
        "bonds_dft_A": bond_lengths(Atoms(symbols=ref["dft"]["symbols"], positions=np.array(ref["dft"]["positions_A"]))),
        "wavenumbers_cm-1": {"model": [float(x) for x in w_model], "dft": [float(x) for x in w_dft], "xtb": [float(x) for x in w_xtb]},
        "model_vs_dft": compare(w_dft, w_model),
        "xtb_vs_dft": compare(w_dft, w_xtb),
    }
    print(f"{'mode':>4} {'B3LYP':>8} {'model':>8} {'err %':>7} {'xTB':>8} {'err %':>7}")
    for k, (a, b, c) in enumerate(zip(w_dft, w_model, w_xtb)):
        print(f"{k + 1:4d} {a:8.1f} {b:8.1f} {100 * (b - a) / a:7.2f} {c:8.1f} {100 * (c - a) / a:7.2f}")
    for name in ("model_vs_dft", "xtb_vs_dft"):
        r = result[name]
        print(f"{name}: MAE {r['mae_cm-1']:.1f} cm-1, mean |rel| {100 * r['mean_abs_rel_error']:.2f} %, "
              f"max |rel| {100 * r['max_abs_rel_error']:.2f} %, {r['n_modes_within_2pct']}/{r['n_modes']} modes within 2 %")
    print(f"geometry RMSD to the B3LYP minimum: {rmsd:.4f} Å")
    if args.output:
        write_json(args.output, result, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
