"""Data of the molecular active-learning demonstration: glycine with GFN2-xTB (tblite) as the oracle.

Writes, next to this script (seeded; rerun gives the same files):

* ``data/start.extxyz`` – the start structure: neutral glycine (NH2-CH2-COOH, 10 atoms, not
  periodic), built from textbook bond lengths and relaxed with GFN2-xTB (BFGS, fmax 0.01 eV/Å),
  centred in a 20 Å box that is not periodic (pbc False; the box only works around the loop's
  descriptor failing on a zero cell).
* ``data/valid.extxyz`` – the loop's validation set (training selection and σ calibration):
  frames of an independent GFN2-xTB Langevin run at ``--valid-temperature-K``.
* ``data/test.extxyz`` – the fixed test set: frames of independent GFN2-xTB Langevin runs at
  ``--test-temperatures-K`` (hotter than most exploration), seeds unrelated to the loop's.

MD: ASE Langevin, 0.5 fs, friction 0.01 fs⁻¹, velocities drawn at T, ``--equilibrate-fs`` of
equilibration from the relaxed structure, then one frame every ``--every-fs``. Labels: GFN2-xTB
energy (eV) and forces (eV/Å) under REF_energy / REF_forces, on positions rounded to the
8 decimals extended XYZ stores. CPU time of the whole script is printed (process time).

Usage (repository root)::

    OMP_NUM_THREADS=1 python benchmarks/active_learning/molecule/make_sets.py
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BOX_A = 20.0  # edge of the (non-periodic) box of the start structure, Å

#: Neutral glycine, approximate Cartesian coordinates (Å) from standard bond lengths/angles;
#: the GFN2-xTB relaxation below fixes the details.
GLYCINE = [
    ("C", (0.000, 0.000, 0.000)),     # Cα
    ("C", (1.520, 0.000, 0.000)),     # carboxyl C
    ("N", (-0.499, 1.372, 0.000)),
    ("O", (2.214, -0.991, 0.000)),    # C=O
    ("O", (2.004, 1.261, 0.000)),     # O-H
    ("H", (2.950, 1.100, 0.000)),
    ("H", (-0.360, -0.515, 0.890)),
    ("H", (-0.360, -0.515, -0.890)),
    ("H", (-0.975, 1.848, 0.760)),
    ("H", (-0.975, 1.848, -0.760)),
]


def xtb():
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0)


def glycine():
    """Relaxed glycine (GFN2-xTB), not periodic, centred in a BOX_A Å box (see below)."""
    from ase import Atoms
    from ase.optimize import BFGS

    atoms = Atoms([s for s, _ in GLYCINE], positions=[p for _, p in GLYCINE], pbc=False)
    atoms.calc = xtb()
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=500)
    out = Atoms(atoms.numbers, positions=np.round(atoms.positions, 8), pbc=False)
    # A box (not periodic, pbc stays False) only so that mlip.learn.select.descriptor can call
    # matscipy's neighbour list, which fails on the zero cell of a cell-less molecule.
    out.set_cell([BOX_A] * 3)
    out.center()
    out.positions = np.round(out.positions, 8)
    out.info.update(kind="start", condition="glycine, GFN2-xTB minimum")
    return out


def labelled(atoms, calc, **info):
    """A copy of ``atoms`` (positions rounded to 8 decimals) with GFN2-xTB labels under REF_*."""
    from ase import Atoms

    frame = Atoms(atoms.numbers, positions=np.round(atoms.positions, 8), pbc=False)
    frame.calc = calc
    energy, forces = frame.get_potential_energy(), frame.get_forces()
    frame.calc = None
    frame.info["REF_energy"] = float(energy)
    frame.arrays["REF_forces"] = np.array(forces)
    frame.info.update(info)
    return frame


def md_frames(start, temperature_K: float, n_frames: int, seed: int, kind: str, equilibrate_fs: float,
              every_fs: float, timestep_fs: float = 0.5):
    """``n_frames`` labelled frames of a GFN2-xTB Langevin run at ``temperature_K`` (K)."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

    rng = np.random.default_rng(seed)
    atoms = start.copy()
    calc = xtb()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.01 / units.fs, rng=rng)
    dyn.run(int(round(equilibrate_fs / timestep_fs)))
    every = int(round(every_fs / timestep_fs))
    frames, label_calc = [], xtb()
    for k in range(n_frames):
        dyn.run(every)
        time_fs = equilibrate_fs + (k + 1) * every * timestep_fs
        frames.append(labelled(atoms, label_calc, kind=kind, temperature_K=float(temperature_K), seed=int(seed),
                               md_time_fs=float(time_fs),
                               condition=f"glycine GFN2-xTB Langevin {temperature_K:g} K, seed {seed}"))
    return frames


def main(argv=None) -> None:
    import ase.io

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(HERE, "data"))
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--valid-temperature-K", type=float, default=500.0)
    p.add_argument("--n-valid", type=int, default=20)
    p.add_argument("--test-temperatures-K", type=float, nargs="+", default=[700.0, 1100.0])
    p.add_argument("--n-test-per-temperature", type=int, default=20)
    p.add_argument("--equilibrate-fs", type=float, default=200.0)
    p.add_argument("--every-fs", type=float, default=25.0)
    args = p.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    cpu0 = time.process_time()
    start = glycine()
    ase.io.write(os.path.join(args.out_dir, "start.extxyz"), [start], format="extxyz")
    valid = md_frames(start, args.valid_temperature_K, args.n_valid, args.seed, "valid", args.equilibrate_fs, args.every_fs)
    ase.io.write(os.path.join(args.out_dir, "valid.extxyz"), valid, format="extxyz")
    test = []
    for k, temperature in enumerate(args.test_temperatures_K):
        test += md_frames(start, temperature, args.n_test_per_temperature, args.seed + 1 + k, "test",
                          args.equilibrate_fs, args.every_fs)
    ase.io.write(os.path.join(args.out_dir, "test.extxyz"), test, format="extxyz")
    forces = np.concatenate([f.arrays["REF_forces"] for f in test])
    print(f"start: {start.get_chemical_formula()}; valid: {len(valid)} frames; test: {len(test)} frames, "
          f"|F| component std {forces.std():.3f} eV/Å; CPU {time.process_time() - cpu0:.1f} s")


if __name__ == "__main__":
    main()
