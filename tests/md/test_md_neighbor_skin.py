"""Neighbour lists reused with a Verlet skin: same forces, fewer builds, no hidden moves."""
import numpy as np
import torch

import md
from md import neighbor_cache
from md_systems import argon_liquid, argon_lj


def test_forces_identical_with_and_without_skin_and_rebuild_count_drops():
    liquid, lj = argon_liquid(repeat=2, seed=4), argon_lj(7.0)
    runs = {}
    for skin_A in (0.0, 1.0):
        state = md.initial_state(liquid, lj, temperature_K=150.0, seed=5, skin_A=skin_A)
        forces = []
        for _ in range(150):
            state = md.VelocityVerlet(8.0).step(state, lj)
            forces.append(state.forces)
        runs[skin_A] = (torch.stack(forces), state.neighbors.n_builds)
    # bit-identical: the skin list is filtered to the exact cutoff, in the same order
    assert torch.equal(runs[0.0][0], runs[1.0][0])
    assert runs[0.0][1] == 151  # rebuilt at every step without skin (plus the initial build)
    assert 1 < runs[1.0][1] < 20, runs[1.0][1]


def test_filtered_edges_equal_a_fresh_list_at_the_exact_cutoff():
    liquid, lj = argon_liquid(repeat=2, seed=6), argon_lj(7.0)
    state = md.initial_state(liquid, lj, temperature_K=150.0, seed=1, skin_A=1.5)
    direction = torch.randn(state.positions.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    step = 0.74 * direction / direction.norm(dim=1, keepdim=True)  # every atom moves just under skin/2
    moved = state.system._replace(positions=state.positions + step)
    assert not neighbor_cache.needs_rebuild(state.neighbors, moved)
    edges, _ = neighbor_cache.update(state.neighbors, moved)
    fresh = neighbor_cache.within_cutoff(neighbor_cache.build(moved, 7.0, 0.0), moved)
    assert torch.equal(edges.index, fresh.index) and torch.equal(edges.shift, fresh.shift)


def test_unwrapped_displacement_triggers_rebuild_even_when_wrapping_would_hide_it():
    liquid, lj = argon_liquid(repeat=2, seed=7), argon_lj(7.0)
    state = md.initial_state(liquid, lj, temperature_K=0.0, skin_A=0.5)
    cell = state.system.cell[0]
    # atom 0 travels exactly one lattice vector: wrapped, it is back where it was
    positions = state.positions.clone()
    positions[0] += cell[0]
    moved = state.system._replace(positions=positions)
    assert neighbor_cache.needs_rebuild(state.neighbors, moved)
    edges, rebuilt = neighbor_cache.update(state.neighbors, moved)
    assert rebuilt.n_builds == state.neighbors.n_builds + 1
    # the rebuilt list still describes the same physics (periodic images), so the forces agree
    forces = lj(moved, edges, False).forces
    assert torch.allclose(forces, state.forces, atol=1e-12)


def test_cutoff_zero_force_field_never_builds_edges():
    atoms = argon_liquid(repeat=1)
    springs = md.Harmonic(torch.tensor(atoms.positions), 1.0)
    state = md.initial_state(atoms, springs, temperature_K=100.0, seed=0)
    state = md.run(state, springs, md.VelocityVerlet(2.0), 20)
    assert state.neighbors.n_builds == 1 and state.neighbors.edges.index.shape[1] == 0
    assert np.isfinite(float(state.potential_energy))
