"""Small systems and force fields shared by the md tests (imported as a plain module)."""
import ase
import ase.build
import numpy as np

import md

EPSILON_EV = 0.0104
SIGMA_A = 3.40


def argon_lj(cutoff_A=8.0, **kwargs):
    """Argon Lennard-Jones force field (ε = 0.0104 eV, σ = 3.40 Å)."""
    return md.LennardJones(EPSILON_EV, SIGMA_A, cutoff_A, **kwargs)


def argon_crystal(repeat=2, a_A=5.26):
    """fcc argon, 4·repeat³ atoms, periodic."""
    return ase.build.bulk("Ar", "fcc", a=a_A, cubic=True).repeat(repeat)


def argon_liquid(repeat=2, a_A=5.7, seed=0, jitter_A=0.15):
    """An expanded, jittered fcc argon box (melts quickly at ~100 K)."""
    atoms = argon_crystal(repeat, a_A)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=jitter_A, size=atoms.positions.shape)
    return atoms


def argon_cluster13():
    """A 13-atom argon icosahedron in vacuum (non-periodic)."""
    from ase.cluster import Icosahedron

    atoms = Icosahedron("Ar", noshells=2, latticeconstant=5.26)
    atoms.center(vacuum=10.0)
    atoms.pbc = False
    return atoms
