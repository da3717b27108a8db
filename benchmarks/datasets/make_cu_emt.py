#!/usr/bin/env python3
"""Generate the periodic copper (and small Cu-Au) EMT reference dataset.

Reference method: ASE's effective-medium-theory calculator (ase.calculators.emt.EMT),
an exact, cheap classical potential.  Every frame carries

    info["emt_energy"]   total energy, eV
    arrays["emt_forces"] forces, eV/Angstrom
    info["emt_stress"]   stress, eV/Angstrom^3, Voigt order (xx, yy, zz, yz, xz, xy),
                         ASE sign convention (positive = tensile; -trace/3 = pressure),
                         potential (virial) part only, no kinetic term, divided by the
                         full cell volume (vacuum included for slabs)
    info["config_type"]  see BLOCKS below
    info["block"]        name of the generation block the frame came from
    info["temperature_K"], info["md_time_fs"], info["applied_strain"] (Voigt, tensor
                         components), info["seed"]

The dataset is built from independent blocks (one MD run or one static scan each),
each with its own seed derived from the block name, so a block's frames do not depend
on which other blocks ran before it.  Each block is appended to the output as a whole,
atomically (temporary file + os.replace); a killed run is resumed by running the
same command again: blocks already in the file are skipped.

Usage (from the repository root):

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/datasets/make_cu_emt.py

Needs: numpy, ase.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_FILE = os.path.join(HERE, "cu_emt.extxyz")

BASE_SEED = 20240502
A_CU = 3.590  # EMT equilibrium fcc lattice constant of Cu at 0 K (Angstrom)
A_AU = 4.056  # EMT equilibrium fcc lattice constant of Au at 0 K (Angstrom)
TIMESTEP_FS = 2.0
FRICTION_PER_FS = 0.02
EQUILIBRATION_FS = 1000.0
SAMPLE_EVERY_FS = 100.0

# Strains as symmetric tensor components in Voigt order (xx, yy, zz, yz, xz, xy);
# the cell becomes cell @ (I + eps) with atoms scaled along.
STRAINS = {
    "iso-4": (-0.04, -0.04, -0.04, 0, 0, 0),
    "iso-2": (-0.02, -0.02, -0.02, 0, 0, 0),
    "iso0": (0, 0, 0, 0, 0, 0),
    "iso+2": (0.02, 0.02, 0.02, 0, 0, 0),
    "iso+4": (0.04, 0.04, 0.04, 0, 0, 0),
    "shearxy+4": (0, 0, 0, 0, 0, 0.04),
    "shearxy-4": (0, 0, 0, 0, 0, -0.04),
    "shearyz+4": (0, 0, 0, 0.04, 0, 0),
    "ortho4": (0.04, -0.04, 0, 0, 0, 0),
}
TEMPS_SOLID = (300, 600, 900, 1200)


def log(msg: str) -> None:
    print(time.strftime("%Y-%m-%d %H:%M:%S"), msg, flush=True)


def block_seed(name: str) -> int:
    return BASE_SEED + zlib.crc32(name.encode())


# ---- structures -----------------------------------------------------------------
def fcc(n: int, a: float = A_CU, symbol: str = "Cu"):
    from ase.build import bulk

    return bulk(symbol, "fcc", a=a, cubic=True).repeat(n)  # 4 n^3 atoms


def strained(atoms, voigt):
    xx, yy, zz, yz, xz, xy = voigt
    eps = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], dtype=float)
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return atoms


# ---- labelling and MD ----------------------------------------------------------------
def labelled(atoms, **info):
    """A clean Atoms copy (no calculator, no momenta) with explicit EMT labels."""
    from ase import Atoms
    from ase.calculators.emt import EMT

    a = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    a.calc = EMT()
    e = float(a.get_potential_energy())
    f = a.get_forces().copy()
    s = a.get_stress(voigt=True).copy()
    a.calc = None
    a.info["emt_energy"] = e
    a.info["emt_stress"] = s
    a.arrays["emt_forces"] = f
    a.info.update(info)
    return a


def md_snapshots(atoms, temperature_K, n_snapshots, seed, *, equilibrate_fs=EQUILIBRATION_FS,
                 schedule=(), sample_every_fs=SAMPLE_EVERY_FS):
    """Langevin NVT MD with EMT; returns n_snapshots (atoms, time_fs) after equilibration.

    schedule: optional list of (temperature_K, duration_fs) stages run first
    (e.g. melting), before equilibrating at temperature_K.
    """
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.calc = EMT()
    t0 = schedule[0][0] if schedule else temperature_K
    thermalize_momenta(atoms, temperature_K=2 * t0, rng=rng)  # equipartition halves it
    Stationary(atoms)
    dyn = Langevin(atoms, TIMESTEP_FS * units.fs, temperature_K=t0,
                   friction=FRICTION_PER_FS / units.fs, rng=rng, fixcm=False)
    steps = 0
    for t_stage, dur in schedule:
        dyn.set_temperature(temperature_K=t_stage)
        n = int(round(dur / TIMESTEP_FS))
        dyn.run(n)
        steps += n
    dyn.set_temperature(temperature_K=temperature_K)
    n = int(round(equilibrate_fs / TIMESTEP_FS))
    dyn.run(n)
    steps += n
    stride = int(round(sample_every_fs / TIMESTEP_FS))
    out = []
    for _ in range(n_snapshots):
        dyn.run(stride)
        steps += stride
        out.append((atoms.copy(), steps * TIMESTEP_FS, float(atoms.get_temperature())))
    return out


def md_block(config_type, atoms, temperature_K, n, strain=(0, 0, 0, 0, 0, 0), **kw):
    def run(name, seed):
        frames = []
        for a, t_fs, t_kin in md_snapshots(atoms, temperature_K, n, seed, **kw):
            frames.append(labelled(a, config_type=config_type, block=name, seed=seed,
                                   temperature_K=float(temperature_K), md_time_fs=float(t_fs),
                                   md_kinetic_temperature_K=t_kin,
                                   applied_strain=np.array(strain, dtype=float)))
        return frames
    return run


def static_block(config_type, structures):
    def run(name, seed):
        rng = np.random.default_rng(seed)
        frames = []
        for a, rattle, strain in structures:
            a = a.copy()
            if rattle:
                a.positions += rng.normal(scale=rattle, size=a.positions.shape)
            frames.append(labelled(a, config_type=config_type, block=name, seed=seed,
                                   temperature_K=0.0, md_time_fs=0.0, rattle_A=float(rattle),
                                   applied_strain=np.array(strain, dtype=float)))
        return frames
    return run


def random_alloy(n_cells, n_au, seed):
    a = fcc(n_cells)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(a), size=n_au, replace=False)
    symbols = np.array(a.get_chemical_symbols())
    symbols[idx] = "Au"
    x = n_au / len(a)
    lat = (1 - x) * A_CU + x * A_AU  # Vegard's law
    out = fcc(n_cells, a=lat)
    out.set_chemical_symbols(list(symbols))
    return out


def blocks():
    """Ordered dict of block name -> callable(name, seed) -> list of Atoms."""
    from ase.build import fcc100, fcc111

    b = {}
    # 0 K equation of state (4-atom cubic cell) and rattled 32-atom cells
    eos = []
    for s in np.linspace(-0.06, 0.06, 13):
        v = (s, s, s, 0, 0, 0)
        eos.append((strained(fcc(1), v), 0.0, v))
    b["fcc_eos_4"] = static_block("fcc_eos", eos)
    rat = []
    for i, key in enumerate(["iso-4", "iso0", "iso+4", "shearxy+4", "ortho4"]):
        for amp in (0.02, 0.05, 0.08, 0.12):  # Angstrom, Gaussian per component
            rat.append((strained(fcc(2), STRAINS[key]), amp, STRAINS[key]))
    b["fcc_rattled_32"] = static_block("fcc_rattled", rat)
    # fcc solid MD, 32 atoms, all strains x temperatures
    for T in TEMPS_SOLID:
        for key, v in STRAINS.items():
            b[f"fcc32_{key}_{T}K"] = md_block("fcc_md", strained(fcc(2), v), T, 8, strain=v)
    # fcc solid MD, 108 atoms
    for T in TEMPS_SOLID:
        for key in ("iso0", "iso+2", "iso-4", "shearxy+4", "shearyz+4"):
            b[f"fcc108_{key}_{T}K"] = md_block("fcc_md", strained(fcc(3), STRAINS[key]), T, 4,
                                               strain=STRAINS[key])
    # vacancy
    for n_cells, temps, n in ((2, TEMPS_SOLID, 5), (3, (300, 900, 1200), 5)):
        a = fcc(n_cells)
        del a[0]
        for T in temps:
            b[f"vacancy{len(a)}_{T}K"] = md_block("fcc_vacancy", a, T, n)
    # liquid: melt at 3000 K for 3 ps, then equilibrate 4 ps at T, then sample
    for scale, T, n in ((1.04, 1900, 50), (1.03, 2000, 30)):
        lin = scale - 1
        v = (lin, lin, lin, 0, 0, 0)
        b[f"liquid108_a{scale:.2f}_{T}K"] = md_block(
            "liquid", strained(fcc(3), v), T, n, strain=v,
            schedule=((3000, 3000.0),), equilibrate_fs=4000.0, sample_every_fs=100.0)
    # surfaces: slabs with vacuum, periodic in all three directions
    for T in (300, 600, 900):
        b[f"slab111_80_{T}K"] = md_block(
            "slab_111", fcc111("Cu", size=(4, 4, 5), a=A_CU, vacuum=8.0, periodic=True), T, 8)
    for T in (300, 900):
        b[f"slab100_72_{T}K"] = md_block(
            "slab_100", fcc100("Cu", size=(3, 3, 8), a=A_CU, vacuum=8.0, periodic=True), T, 8)
    # Cu-Au random alloys (Vegard lattice constant), 32 atoms
    for n_au in (8, 16):
        for k in range(2):
            alloy = random_alloy(2, n_au, BASE_SEED + 1000 * n_au + k)
            for T in (600, 1000):
                b[f"cuau32_au{n_au}_r{k}_{T}K"] = md_block("cuau_alloy", alloy, T, 6)
    return b


# ---- atomic, incremental output ----------------------------------------------------------
def atomic_append(path: str, frames) -> None:
    import ase.io

    buf = io.StringIO()
    ase.io.write(buf, frames, format="extxyz")
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        if os.path.exists(path):
            with open(path, "rb") as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        out.write(buf.getvalue().encode())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def main(argv=None) -> int:
    import ase.io

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="list the blocks and exit")
    p.add_argument("--output", default=OUT_FILE)
    args = p.parse_args(argv)
    todo = blocks()
    if args.list:
        for name in todo:
            print(name)
        return 0
    done = set()
    n_frames = 0
    if os.path.exists(args.output) and os.path.getsize(args.output) > 0:
        existing = ase.io.read(args.output, ":", format="extxyz")
        done = {a.info["block"] for a in existing}
        n_frames = len(existing)
        log(f"resuming: {len(done)} blocks, {n_frames} frames already in {args.output}")
    t_all = time.time()
    for i, (name, run) in enumerate(todo.items()):
        if name in done:
            continue
        t0 = time.time()
        frames = run(name, block_seed(name))
        atomic_append(args.output, frames)
        n_frames += len(frames)
        log(f"[{i + 1}/{len(todo)}] {name}: {len(frames)} frames x {len(frames[0])} atoms, "
            f"{time.time() - t0:.1f} s (total {n_frames} frames)")
    log(f"done: {n_frames} frames in {args.output}, {time.time() - t_all:.0f} s this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
