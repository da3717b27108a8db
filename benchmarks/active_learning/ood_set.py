#!/usr/bin/env python3
"""An independent out-of-distribution (OOD) Cu-Au test set labelled by ASE's EMT, and the
disjoint start structures of the active-learning loop (issue 14).

OOD test set (default): four kinds of frames, none of them in ``cu_emt.extxyz`` (the data of the
shipped ``cuau-emt``) and none of them a start structure of the loop:

    hot_alloy           random fcc Cu-Au, Au fraction 35-60 %, 900-1500 K
    sheared_triclinic   fcc Cu / Cu-rich Cu-Au (Au 0-25 %), all three shear components
                        4-8 % (random signs) plus normal strains within +-3 %, 600 K
    au_vacancy_cluster  di- or tri-vacancy (mutual nearest-neighbour sites) in a Cu-rich alloy
                        whose first shell around the cluster is Au-enriched, 800 K
    cu111_au_adatom     Cu(111) slab with 1-3 Au adatoms in fcc/hcp hollows, 500-700 K

Each kind is made of independent MD runs (``FRAMES_PER_RUN`` decorrelated snapshots each): ASE
Langevin NVT with EMT (the helpers of benchmarks/datasets/make_cu_emt.py: time step 2 fs,
friction 0.02 fs^-1, velocities drawn at 2T), 500 fs equilibration, then one snapshot every
200 fs. Every run draws its own condition and MD seed from (``--seed``, kind, run index), so a run
does not depend on the other runs or on ``--n-per-kind``. Cells hold 32-108 atoms.

Frames carry the labels under the keys of the training splits of ``cuau-emt``:
    info["REF_energy"]   EMT total energy, eV
    arrays["REF_forces"] EMT forces, eV/Angstrom
    info["REF_stress"]   EMT stress, eV/Angstrom^3, Voigt (xx, yy, zz, yz, xz, xy), ASE sign
                         (positive = tensile), virial part only, full cell volume (vacuum
                         included for slabs)
and info["kind"], info["condition"] (a readable description), info["run"], info["seed"],
info["temperature_K"], info["md_time_fs"], info["md_kinetic_temperature_K"],
info["applied_strain"] (Voigt, symmetric tensor components), info["au_fraction"].

Start structures (``--start-structures``): 8 unlabelled ideal structures of 32-64 atoms for
the loop to explore from, outside every OOD condition: Cu and Cu-rich fcc with Au <= 25 %,
unsheared cubic cells at the Vegard lattice constant, single vacancies, Cu(100) slabs.

Usage (from the repository root; ~1.5 min of one core for the default 48 frames):
    OMP_NUM_THREADS=1 python benchmarks/active_learning/ood_set.py [--seed 14] [--n-per-kind 12] \
        [--out benchmarks/active_learning/data/ood_test.extxyz]
    python benchmarks/active_learning/ood_set.py --start-structures \
        [--out benchmarks/active_learning/data/start_structures.extxyz]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "datasets"))

import ase  # noqa: E402
import ase.io  # noqa: E402
from ase.build import fcc100, fcc111  # noqa: E402
from ase.geometry import get_distances  # noqa: E402
from ase.neighborlist import neighbor_list  # noqa: E402
from make_cu_emt import A_AU, A_CU, fcc, labelled, md_snapshots, strained  # noqa: E402

from mlip.atomic_io import atomic_path  # noqa: E402
from mlip.errors import ConfigError  # noqa: E402

DATA = os.path.join(HERE, "data")
OOD_FILE = os.path.join(DATA, "ood_test.extxyz")
START_FILE = os.path.join(DATA, "start_structures.extxyz")
DEFAULT_SEED = 14
FRAMES_PER_RUN = 3
EQUILIBRATE_FS = 500.0
SAMPLE_EVERY_FS = 200.0
ADATOM_HEIGHT_A = 2.2  # Au above the top Cu(111) layer at the start, Angstrom
ZERO_STRAIN = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

#: A built run: (atoms, temperature_K, condition text, applied strain in Voigt order)
Run = Tuple[ase.Atoms, float, str, Tuple[float, ...]]


def vegard_A(au_fraction: float) -> float:
    """fcc lattice constant (Angstrom) of a random Cu-Au alloy by Vegard's law on EMT's
    0 K lattice constants."""
    return (1.0 - au_fraction) * A_CU + au_fraction * A_AU


def random_alloy(repeat, n_au: int, rng: np.random.Generator) -> ase.Atoms:
    """Cubic fcc cells repeated ``repeat`` times, ``n_au`` random sites Au, Vegard lattice."""
    atoms = fcc(1, a=vegard_A(n_au / (4 * int(np.prod(repeat))))).repeat(repeat)
    symbols = np.array(["Cu"] * len(atoms), dtype=object)
    symbols[rng.choice(len(atoms), size=n_au, replace=False)] = "Au"
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def au_count(n_sites: int, low: float, high: float, rng: np.random.Generator) -> int:
    """A uniformly drawn number of Au atoms whose fraction of ``n_sites`` is in [low, high]."""
    return int(rng.integers(math.ceil(low * n_sites - 1e-9), math.floor(high * n_sites + 1e-9) + 1))


def formula(atoms: ase.Atoms) -> str:
    n_au = int(np.sum(atoms.numbers == 79))
    return f"Cu{len(atoms) - n_au}" + (f"Au{n_au}" if n_au else "")


# ---- the four OOD kinds: each builds run ``run`` from its own rng --------------------------
def hot_alloy(run: int, rng: np.random.Generator) -> Run:
    repeat = ((2, 2, 2), (3, 3, 3), (2, 2, 3), (3, 3, 2))[run % 4]
    n_sites = 4 * int(np.prod(repeat))
    atoms = random_alloy(repeat, au_count(n_sites, 0.35, 0.60, rng), rng)
    temperature_K = float(np.round(rng.uniform(900.0, 1500.0)))
    x = np.mean(atoms.numbers == 79)
    text = f"{formula(atoms)} random fcc (Au {100 * x:.0f} %), Vegard a = {vegard_A(x):.3f} A, {temperature_K:.0f} K"
    return atoms, temperature_K, text, ZERO_STRAIN


def sheared_triclinic(run: int, rng: np.random.Generator) -> Run:
    repeat = ((2, 2, 2), (2, 2, 3), (3, 3, 2), (3, 3, 3))[run % 4]
    n_sites = 4 * int(np.prod(repeat))
    atoms = random_alloy(repeat, au_count(n_sites, 0.0, 0.25, rng), rng)
    normal = rng.uniform(-0.03, 0.03, size=3)
    shear = rng.uniform(0.04, 0.08, size=3) * rng.choice([-1.0, 1.0], size=3)
    strain = tuple(float(np.round(v, 4)) for v in np.concatenate([normal, shear]))
    atoms = strained(atoms, strain)
    text = (f"{formula(atoms)} fcc, strain (xx yy zz yz xz xy) = ("
            + " ".join(f"{100 * v:+.1f}" for v in strain) + ") %, 600 K")
    return atoms, 600.0, text, strain


def au_vacancy_cluster(run: int, rng: np.random.Generator) -> Run:
    repeat = ((3, 3, 3), (3, 3, 2))[run % 2]
    n_vacancies = 2 + (run // 2) % 2  # di, di, tri, tri, di, ...
    atoms = fcc(1).repeat(repeat)
    centre, neighbour = neighbor_list("ij", atoms, 0.85 * A_CU)  # nearest neighbours at a/sqrt(2)
    shell = {i: set(neighbour[centre == i].tolist()) for i in range(len(atoms))}
    cluster = [int(rng.integers(len(atoms)))]
    while len(cluster) < n_vacancies:  # each new site neighbours every site already taken
        common = set.intersection(*(shell[c] for c in cluster)) - set(cluster)
        cluster.append(int(rng.choice(sorted(common))))
    around = sorted(set.union(*(shell[c] for c in cluster)) - set(cluster))
    rest = sorted(set(range(len(atoms))) - set(around) - set(cluster))
    au = [i for i in around if rng.random() < 0.5]  # Au-enriched first shell
    au += rng.choice(rest, size=au_count(len(rest), 0.08, 0.15, rng), replace=False).tolist()
    x = len(au) / (len(atoms) - n_vacancies)
    atoms = fcc(1, a=vegard_A(x)).repeat(repeat)
    symbols = np.array(["Cu"] * len(atoms), dtype=object)
    symbols[au] = "Au"
    atoms.set_chemical_symbols(list(symbols))
    del atoms[cluster]
    name = {2: "di", 3: "tri"}[n_vacancies]
    text = (f"{formula(atoms)} ({name}-vacancy in {len(atoms) + n_vacancies} fcc sites, "
            f"{len([i for i in around if i in au])}/{len(around)} first-shell sites Au, "
            f"Au {100 * x:.0f} % overall), Vegard a = {vegard_A(x):.3f} A, 800 K")
    return atoms, 800.0, text, ZERO_STRAIN


def cu111_au_adatom(run: int, rng: np.random.Generator) -> Run:
    size = ((4, 4, 4), (3, 3, 5))[run % 2]
    n_adatoms = 1 + run % 3
    slab = fcc111("Cu", size=size, a=A_CU, vacuum=8.0, periodic=True)
    # hollow sites above the top layer (tag 1): hcp above layer-2 atoms, fcc above layer-3 atoms
    sites = [(p, "hcp") for p in slab.positions[slab.get_tags() == 2]]
    sites += [(p, "fcc") for p in slab.positions[slab.get_tags() == 3]]
    top_z = slab.positions[slab.get_tags() == 1, 2].max()
    chosen: List[Tuple[np.ndarray, str]] = []
    for k in rng.permutation(len(sites)):
        xyz = np.array([sites[k][0][0], sites[k][0][1], top_z + ADATOM_HEIGHT_A])
        if chosen:  # no two adatoms closer than a Cu-Cu nearest-neighbour distance
            _, d = get_distances(xyz, np.array([c[0] for c in chosen]), cell=slab.cell, pbc=slab.pbc)
            if d.min() < 2.5:
                continue
        chosen.append((xyz, sites[k][1]))
        if len(chosen) == n_adatoms:
            break
    slab += ase.Atoms("Au" * n_adatoms, positions=[c[0] for c in chosen])
    temperature_K = float(np.round(rng.uniform(500.0, 700.0)))
    where = ", ".join(c[1] for c in chosen)
    text = (f"Cu(111) {size[0]}x{size[1]} surface cell, {size[2]} layers, 16 A vacuum, "
            f"{n_adatoms} Au adatom(s) in {where} hollows, {temperature_K:.0f} K")
    return slab, temperature_K, text, ZERO_STRAIN


KINDS: Dict[str, Callable[[int, np.random.Generator], Run]] = {
    "hot_alloy": hot_alloy,
    "sheared_triclinic": sheared_triclinic,
    "au_vacancy_cluster": au_vacancy_cluster,
    "cu111_au_adatom": cu111_au_adatom,
}


def run_frames(kind: str, run: int, n_frames: int, seed: int) -> List[ase.Atoms]:
    """``n_frames`` EMT-labelled snapshots of run ``run`` of ``kind`` (REF_* keys)."""
    rng = np.random.default_rng([seed, list(KINDS).index(kind), run])
    atoms, temperature_K, text, strain = KINDS[kind](run, rng)
    md_seed = int(rng.integers(2**31))
    frames = []
    for snap, time_fs, kinetic_K in md_snapshots(atoms, temperature_K, n_frames, md_seed,
                                                 equilibrate_fs=EQUILIBRATE_FS, sample_every_fs=SAMPLE_EVERY_FS):
        snap.positions = np.round(snap.positions, 8)  # label the positions as extxyz stores them (%.8f)
        a = labelled(snap, kind=kind, condition=text, run=run, seed=md_seed, temperature_K=temperature_K,
                     md_time_fs=float(time_fs), md_kinetic_temperature_K=kinetic_K,
                     applied_strain=np.array(strain, dtype=float), au_fraction=float(np.mean(snap.numbers == 79)))
        a.info["REF_energy"] = a.info.pop("emt_energy")
        a.info["REF_stress"] = a.info.pop("emt_stress")
        a.arrays["REF_forces"] = a.arrays.pop("emt_forces")
        frames.append(a)
    return frames


def ood_set(seed: int = DEFAULT_SEED, n_per_kind: int = 12, log=print) -> List[ase.Atoms]:
    """The OOD test set: ``n_per_kind`` frames of each kind in :data:`KINDS`, in kind order."""
    if n_per_kind < 1:
        raise ConfigError(f"--n-per-kind must be >= 1, got {n_per_kind}")
    frames: List[ase.Atoms] = []
    for kind in KINDS:
        for run in range(math.ceil(n_per_kind / FRAMES_PER_RUN)):
            t0 = time.process_time()
            n = min(FRAMES_PER_RUN, n_per_kind - run * FRAMES_PER_RUN)
            new = run_frames(kind, run, n, seed)
            frames += new
            log(f"{kind} run {run}: {n} x {len(new[0])} atoms, {new[0].info['condition']} "
                f"({time.process_time() - t0:.1f} s CPU)")
    return frames


# ---- start structures of the active-learning loop (disjoint from every OOD condition) ------
def start_structures(seed: int = DEFAULT_SEED) -> List[ase.Atoms]:
    """8 unlabelled ideal structures, 32-64 atoms: Cu-rich fcc (Au <= 25 %), unsheared cubic
    cells at the Vegard lattice constant, single vacancies, Cu(100) slabs (16 A vacuum)."""
    rng = np.random.default_rng([seed, 1000])
    out = []

    def add(atoms: ase.Atoms, kind: str, text: str) -> None:
        a = ase.Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        a.info.update(kind=kind, condition=f"{formula(a)} {text}", au_fraction=float(np.mean(a.numbers == 79)))
        out.append(a)

    for repeat, n_au in (((2, 2, 2), 0), ((2, 2, 2), 4), ((2, 2, 2), 8), ((2, 2, 3), 6)):
        a = random_alloy(repeat, n_au, rng)
        add(a, "fcc_alloy", f"ideal {'random ' if n_au else ''}fcc (Au {100 * n_au / len(a):.1f} %), a = {a.cell[0, 0] / repeat[0]:.3f} A")
    for n_au in (0, 6):
        a = random_alloy((2, 2, 3), n_au, rng)
        del a[int(rng.integers(len(a)))]
        add(a, "fcc_vacancy", f"ideal fcc, one vacancy in 48 sites (Au {100 * n_au / 47:.1f} %)")
    add(fcc100("Cu", size=(3, 3, 4), a=A_CU, vacuum=8.0, periodic=True), "cu100_slab",
        "Cu(100) 3x3 surface cell, 4 layers, 16 A vacuum")
    slab = fcc100("Cu", size=(4, 4, 4), a=A_CU, vacuum=8.0, periodic=True)
    top = np.flatnonzero(slab.get_tags() == 1)
    slab.numbers[rng.choice(top, size=2, replace=False)] = 79
    add(slab, "cu100_slab", "Cu(100) 4x4 surface cell, 4 layers, 16 A vacuum, 2 Au substituted in the top layer")
    return out


def check_disjoint(start: List[ase.Atoms]) -> None:
    """Refuse start structures inside an OOD condition (Au > 25 %, sheared cell, more than one
    vacancy, a (111) surface or an adatom would be one)."""
    for a in start:
        cell = a.cell.array
        off_diagonal = np.abs(cell - np.diag(np.diag(cell))).max()
        if a.info["au_fraction"] > 0.25 + 1e-9 or off_diagonal > 1e-9 or not 32 <= len(a) <= 64:
            raise ConfigError(f"start structure '{a.info['condition']}' overlaps the OOD conditions")


def write(frames: List[ase.Atoms], path: str) -> None:
    """Write ``frames`` to ``path`` as extended XYZ, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, suffix=".extxyz") as tmp:
        ase.io.write(tmp, frames, format="extxyz")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"master seed (default {DEFAULT_SEED})")
    p.add_argument("--n-per-kind", type=int, default=12, help="OOD frames per kind (default 12)")
    p.add_argument("--start-structures", action="store_true",
                   help="write the active-learning start structures instead of the OOD set")
    p.add_argument("--out", default=None, help=f"output extxyz (default {os.path.relpath(OOD_FILE)}, "
                   f"or {os.path.relpath(START_FILE)} with --start-structures)")
    args = p.parse_args(argv)
    t0 = time.process_time()
    if args.start_structures:
        frames = start_structures(args.seed)
        check_disjoint(frames)
        out = args.out or START_FILE
    else:
        frames = ood_set(args.seed, args.n_per_kind)
        out = args.out or OOD_FILE
    write(frames, out)
    print(f"{len(frames)} frames, {sum(len(a) for a in frames)} atoms -> {out} "
          f"({time.process_time() - t0:.1f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
