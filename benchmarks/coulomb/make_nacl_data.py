"""Generate the NaCl locality-failure datasets, labelled by LAMMPS (Tosi–Fumi BMH + Coulomb).

Outputs (extended XYZ, energies eV, forces eV/Å, stress eV/Å³; keys energy/forces/stress):

* ``nacl_clusters.extxyz`` — finite Na/Cl structures where charged fragments sit at distances
  d from 2.4 to 12 Å (pool for training and a random test split):
  ``dimer`` (Na⁺Cl⁻ pairs), ``ion_off_cluster`` (one ion pulled off a compact Na_nCl_n
  cluster, n = 2..4), ``fragments`` (a cluster split into two fragments of charge ±1).
* ``nacl_curves.extxyz`` — three separation curves for the plot, d from 2.4 to 14 Å
  (``info['curve']``, ``info['d_A']``): the Na⁺Cl⁻ dimer, Cl⁻ pulled off Na₄Cl₄, and
  Na₂Cl⁺ / NaCl₂⁻ fragments moved apart.
* ``nacl_bulk.extxyz`` — periodic 64-atom rock-salt cells (a = 5.45–5.85 Å, thermal rattles,
  some with a Schottky pair), labelled with ``born/coul/long`` + ``kspace_style ewald 1e-10``.

d is the smallest distance between the two charged parts. All structures are neutral.
Run: ``nice -n 19 .venv/bin/python benchmarks/coulomb/make_nacl_data.py`` (~1 min, seeded).
"""
from __future__ import annotations

import os
import sys

import ase
import ase.build
import ase.io
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lammps_bmh import label  # noqa: E402

SEED = 20261122
D_MIN, D_MAX = 2.4, 12.0


def compact_cluster(n_pairs: int, rng) -> ase.Atoms:
    """A rock-salt fragment Na_n Cl_n (a 2x2x1, 2x3x1 or 2x2x2 block), rattled."""
    shape = {1: (2, 1, 1), 2: (2, 2, 1), 3: (3, 2, 1), 4: (2, 2, 2)}[n_pairs]
    a = 2.82 * (0.93 + 0.1 * rng.random())
    pos, sym = [], []
    for i in range(shape[0]):
        for j in range(shape[1]):
            for k in range(shape[2]):
                pos.append([i * a, j * a, k * a])
                sym.append("Na" if (i + j + k) % 2 == 0 else "Cl")
    atoms = ase.Atoms(sym, positions=np.array(pos))
    atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
    atoms.rotate(rng.random() * 360, rng.normal(size=3))
    atoms.positions -= atoms.positions.mean(axis=0)
    return atoms


def min_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.linalg.norm(a[:, None] - b[None], axis=-1)))


def place_apart(fixed: ase.Atoms, moving: ase.Atoms, d: float, direction: np.ndarray) -> ase.Atoms:
    """``fixed`` + ``moving`` translated along ``direction`` so the closest pair is d apart."""
    direction = direction / np.linalg.norm(direction)
    base = moving.positions - moving.positions.mean(axis=0) + fixed.positions.mean(axis=0)
    lo, hi = 0.0, 50.0
    for _ in range(60):  # bisection on the shift
        mid = 0.5 * (lo + hi)
        if min_distance(fixed.positions, base + mid * direction) < d:
            lo = mid
        else:
            hi = mid
    out = fixed.copy()
    out += ase.Atoms(moving.get_chemical_symbols(), positions=base + hi * direction)
    return out


def fragments_of(cluster: ase.Atoms, rng):
    """Split a Na_nCl_n cluster (n >= 2) into two fragments of charge +1 and -1."""
    na = [i for i, s in enumerate(cluster.get_chemical_symbols()) if s == "Na"]
    cl = [i for i, s in enumerate(cluster.get_chemical_symbols()) if s == "Cl"]
    n = len(na)
    k = int(rng.integers(1, n))  # cation fragment: k+1 Na, k Cl  (charge +1)
    rng.shuffle(na)
    rng.shuffle(cl)
    plus = na[: k + 1] + cl[:k]
    minus = na[k + 1 :] + cl[k:]
    return cluster[plus], cluster[minus]


def labelled(atoms: ase.Atoms, **info) -> ase.Atoms:
    e, f, s = label(atoms)
    atoms = atoms.copy()
    atoms.info.update(info)
    atoms.info["energy"] = e
    atoms.arrays["forces"] = f
    if s is not None:
        atoms.info["stress"] = s.reshape(-1)
    return atoms


def cluster_pool(rng, n_dimer=80, n_ion=260, n_frag=260):
    out = []
    for _ in range(n_dimer):
        d = rng.uniform(D_MIN, D_MAX)
        out.append(labelled(ase.Atoms("NaCl", positions=[[0, 0, 0], [d, 0, 0]]), kind="dimer", d_A=d))
    for _ in range(n_ion):
        cluster = compact_cluster(int(rng.integers(2, 5)), rng)
        k = int(rng.integers(len(cluster)))
        rest = cluster[[i for i in range(len(cluster)) if i != k]]
        d = rng.uniform(D_MIN + 0.2, D_MAX)
        out.append(labelled(place_apart(rest, cluster[[k]], d, rng.normal(size=3)), kind="ion_off_cluster", d_A=d))
    for _ in range(n_frag):
        cluster = compact_cluster(int(rng.integers(2, 5)), rng)
        plus, minus = fragments_of(cluster, rng)
        d = rng.uniform(D_MIN + 0.2, D_MAX)
        out.append(labelled(place_apart(plus, minus, d, rng.normal(size=3)), kind="fragments", d_A=d))
    return out


def curves(rng):
    out = []
    ds = np.round(np.linspace(2.4, 14.0, 59), 4)
    for d in ds:
        out.append(labelled(ase.Atoms("NaCl", positions=[[0, 0, 0], [d, 0, 0]]), curve="dimer", d_A=float(d)))
    cluster = compact_cluster(4, np.random.default_rng(SEED + 1))
    k = [i for i, s in enumerate(cluster.get_chemical_symbols()) if s == "Cl"][0]
    rest = cluster[[i for i in range(len(cluster)) if i != k]]
    direction = cluster.positions[k] - rest.positions.mean(axis=0)
    for d in ds[ds >= 2.6]:
        out.append(labelled(place_apart(rest, cluster[[k]], float(d), direction), curve="Cl_off_Na4Cl4", d_A=float(d)))
    cluster = compact_cluster(3, np.random.default_rng(SEED + 2))
    sym = cluster.get_chemical_symbols()
    na = [i for i, s in enumerate(sym) if s == "Na"]
    cl = [i for i, s in enumerate(sym) if s == "Cl"]
    plus, minus = cluster[na[:2] + cl[:1]], cluster[na[2:] + cl[1:]]
    for d in ds[ds >= 2.6]:
        out.append(labelled(place_apart(plus, minus, float(d), np.array([1.0, 0.2, -0.1])), curve="Na2Cl+_NaCl2-", d_A=float(d)))
    return out


def bulk(rng, n=120):
    out = []
    for k in range(n):
        a = rng.uniform(5.45, 5.85)
        atoms = ase.build.bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(2)
        if k % 3 == 2:  # Schottky pair: one Na and one Cl vacancy at random sites
            na = [i for i in range(len(atoms)) if atoms.numbers[i] == 11]
            cl = [i for i in range(len(atoms)) if atoms.numbers[i] == 17]
            del atoms[sorted([int(rng.choice(na)), int(rng.choice(cl))], reverse=True)]
        atoms.rattle(rng.uniform(0.03, 0.25), seed=int(rng.integers(1 << 30)))
        out.append(labelled(atoms, kind="bulk_schottky" if k % 3 == 2 else "bulk", a_A=a))
    return out


def main():
    rng = np.random.default_rng(SEED)
    ase.io.write(os.path.join(HERE, "nacl_clusters.extxyz"), cluster_pool(rng))
    ase.io.write(os.path.join(HERE, "nacl_curves.extxyz"), curves(rng))
    ase.io.write(os.path.join(HERE, "nacl_bulk.extxyz"), bulk(rng))


if __name__ == "__main__":
    main()
