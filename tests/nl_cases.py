"""Awkward structures for neighbour-list tests, shared by tests/test_neighbor_list.py and
tests/ops/test_ops_neighbor_list.py (one definition, same seeds).

Each case is ``(name, ase.Atoms, cutoff_in_Å)``.
"""
import ase
import ase.build
import numpy as np


def as_set(i, j, s):
    """Pairs as a sorted list of (i, j, shift tuple), for order-free comparisons."""
    return sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, np.asarray(s).tolist())))


def nasty_cases():
    """Random triclinic cells smaller than the cutoff, one atom in a tiny cell, mixed pbc, a slab
    with a zero c vector, a molecule and isolated atoms."""
    rng = np.random.default_rng(42)
    out = []
    for k in range(4):  # random triclinic, cutoff larger than the cell
        cell = np.eye(3) * rng.uniform(2.0, 4.0, 3) + rng.uniform(-0.8, 0.8, (3, 3))
        a = ase.Atoms("Cu" * int(rng.integers(1, 7)), cell=cell, pbc=True)
        a.set_scaled_positions(rng.random((len(a), 3)))
        out.append((f"triclinic{k}", a, float(rng.uniform(3.0, 6.0))))
    single = ase.Atoms("Ar", cell=[[1.7, 0, 0], [0.4, 1.9, 0], [0.2, 0.3, 2.1]], pbc=True)
    out.append(("one_atom_tiny_cell", single, 4.5))
    mixed = out[0][1].copy()
    mixed.pbc = [True, False, True]
    out.append(("mixed_pbc", mixed, 3.7))
    slab = ase.build.fcc111("Cu", (2, 2, 3))
    slab.pbc = [True, True, False]
    slab.cell[2] = 0.0
    out.append(("slab_zero_c_vector", slab, 5.0))
    mol = ase.build.molecule("CH3CH2OH")
    out.append(("molecule", mol, 2.5))
    far = ase.Atoms("H2", positions=[[0, 0, 0], [10, 0, 0]])
    out.append(("isolated_atoms", far, 3.0))
    return out


def extra_nasty_cases():
    """nasty_cases() plus a wire (one periodic axis), atoms far outside the cell (also hundreds
    of cells away: image shifts beyond ±127) and a very skewed cell."""
    out = nasty_cases()
    rng = np.random.default_rng(7)
    wire = ase.Atoms("Cu4", positions=rng.random((4, 3)) * 3.0, cell=[[2.2, 0.3, 0.1], [0, 0, 0], [0, 0, 0]],
                     pbc=[True, False, False])
    out.append(("wire_one_periodic_axis", wire, 4.0))
    outside = out[1][1].copy()
    outside.positions += np.array([31.7, -57.2, 12.9])
    out.append(("atoms_outside_the_cell", outside, 4.2))
    far_out = out[1][1].copy()
    far_out.positions[::2] += np.array([611.3, -587.9, 402.2])
    out.append(("shifts_beyond_127_cells", far_out, 4.2))
    skew = ase.Atoms("Cu3", cell=[[4.0, 0, 0], [3.9, 0.6, 0], [0.2, 0.1, 3.0]], pbc=True)
    skew.set_scaled_positions(rng.random((3, 3)))
    out.append(("skewed_cell", skew, 3.3))
    return out
