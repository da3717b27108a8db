"""The skin-cached neighbour list stays exact while a barostat changes the cell: at every step
the cached edges equal a fresh list at the exact cutoff, the strain enters the rebuild test
(a small homogeneous strain keeps the list, a large one rebuilds it), and the cache still
saves most rebuilds."""
import pytest
import torch

import md
from md import neighbor_cache
from md_systems import argon_crystal, argon_liquid, argon_lj


def fresh_edges(system, cutoff_A):
    return neighbor_cache.within_cutoff(neighbor_cache.build(system, cutoff_A, 0.0), system)


@pytest.mark.parametrize("integrator", [
    md.StochasticCellRescaling(8.0, 120.0, 0.05, barostat_tau_fs=200.0, compressibility_per_GPa=2.0,
                               flexibility="triclinic"),
    md.MTK(8.0, 120.0, 0.05, barostat_tau_fs=150.0, flexibility="triclinic"),
], ids=["scr-triclinic", "mtk-triclinic"])
def test_cached_edges_equal_a_fresh_list_at_every_step_while_the_cell_moves(integrator):
    liquid, lj = argon_liquid(repeat=2, seed=3), argon_lj(6.5)
    state = integrator.init(md.initial_state(liquid, lj, temperature_K=120.0, seed=2, skin_A=0.6))
    cells, builds = [state.system.cell.clone()], state.neighbors.n_builds
    for _ in range(60):
        state = integrator.step(state, lj)
        edges, _ = neighbor_cache.update(state.neighbors, state.system)
        fresh = fresh_edges(state.system, lj.cutoff)
        assert torch.equal(edges.index, fresh.index) and torch.equal(edges.shift, fresh.shift), state.step
        cells.append(state.system.cell.clone())
    strain = (torch.linalg.solve(cells[0][0], cells[-1][0]) - torch.eye(3, dtype=torch.float64)).abs().max()
    assert strain > 0.01  # the cell really moved (lengths and angles)
    assert state.neighbors.n_builds - builds < 40  # the skin still saves rebuilds


def test_a_homogeneous_strain_within_the_skin_keeps_the_list_and_a_large_one_rebuilds_it():
    crystal, lj = argon_crystal(repeat=2), argon_lj(7.0)
    state = md.initial_state(crystal, lj, temperature_K=0.0, skin_A=0.5)
    for scale, rebuild in ((1.02, False), (0.985, False), (1.10, True), (0.92, True)):
        deformation = torch.tensor([[scale, 0.01, 0.0], [0.01, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        strained = state.system._replace(positions=state.positions @ deformation,
                                         cell=state.system.cell @ deformation)
        assert neighbor_cache.needs_rebuild(state.neighbors, strained) == rebuild, scale
        edges, cache = neighbor_cache.update(state.neighbors, strained)
        assert (cache.n_builds > state.neighbors.n_builds) == rebuild
        fresh = fresh_edges(strained, lj.cutoff)
        assert torch.equal(edges.index, fresh.index) and torch.equal(edges.shift, fresh.shift)
        # forces from the kept list equal forces from the fresh one
        assert torch.allclose(lj(strained, edges, False).forces, lj(strained, fresh, False).forces, atol=1e-12)


def test_strain_plus_thermal_moves_beyond_the_skin_trigger_a_rebuild():
    crystal, lj = argon_crystal(repeat=2), argon_lj(7.0)
    state = md.initial_state(crystal, lj, temperature_K=0.0, skin_A=0.5)
    shifted = state.positions.clone()
    shifted[5] += torch.tensor([0.2, 0.0, 0.0], dtype=torch.float64)  # 2 × 0.2 Å < skin 0.5 Å: kept alone
    assert not neighbor_cache.needs_rebuild(state.neighbors, state.system._replace(positions=shifted))
    deformation = torch.eye(3, dtype=torch.float64) * 1.02  # strain alone: kept (room 7 − 1.02 · 6.5 = 0.37 Å)
    assert not neighbor_cache.needs_rebuild(state.neighbors, state.system._replace(
        positions=state.positions @ deformation, cell=state.system.cell @ deformation))
    both = state.system._replace(positions=shifted @ deformation, cell=state.system.cell @ deformation)
    assert neighbor_cache.needs_rebuild(state.neighbors, both)  # 2 × 0.2 Å > 0.37 Å left by the strain
