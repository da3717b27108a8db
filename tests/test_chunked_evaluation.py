"""Memory-bounded inference (mlip.chunked_evaluation): blocks of receivers, one layer at a time,
must give the whole-graph energy, forces, stress and atomic energies (float64), for batches of
periodic (triclinic) and open systems, committees with pair baselines and multi-fidelity models;
Coulomb models are evaluated whole."""
import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

import mlip
from mlip.ase_bridge import system_from_atoms
from mlip.chunked_evaluation import chunked_prediction
from mlip.errors import ConfigError
from mlip.neighbor_list import neighbor_list
from model_fixtures import small_config


def batch():
    crystal = bulk("C", "diamond", a=3.9, cubic=True)
    crystal.numbers[::3] = 8
    crystal.numbers[1::4] = 1
    crystal.rattle(0.15, seed=1)
    tri = crystal.copy()
    tri.set_cell(tri.cell.array + np.array([[0, 0, 0], [0.7, 0, 0], [-0.4, 0.5, 0]]), scale_atoms=True)
    mol = molecule("CH3CH2OH")
    return system_from_atoms([crystal, tri, mol], dtype=torch.float64)


def compare(pot, max_edges, rtol=1e-10):
    system = batch()
    edges = neighbor_list(system, pot.cutoff)
    assert edges.index.shape[1] > 4 * max_edges  # really several blocks
    whole = pot.model(system, edges, True, True)
    got = chunked_prediction(pot.model, system, edges, True, max_edges)
    assert got is not None
    scale = float(whole.forces.abs().max())
    assert torch.allclose(got.energy, whole.energy, rtol=rtol, atol=rtol)
    assert float((got.forces - whole.forces).abs().max()) <= rtol * scale
    assert float((got.stress - whole.stress).abs().max()) <= rtol * float(whole.stress.abs().max())
    assert float((got.atomic_energies - whole.atomic_energies).abs().max()) <= rtol * float(whole.atomic_energies.abs().max())
    assert float(got.stress[2].abs().max()) == 0.0  # the molecule has no cell


@pytest.mark.parametrize("max_edges", [3, 40, 100])
def test_blocks_equal_the_whole_graph(max_edges):
    pot = mlip.build_potential(small_config(), seed=1)
    compare(pot, max_edges)


def test_committee_with_pair_baselines():
    pot = mlip.build_potential(small_config(n_layers=2, l_max=1, channels=4), seed=2, committee_size=3,
                               baselines=[{"kind": "zbl"}, {"kind": "lennard_jones", "epsilon": 0.01, "sigma": 1.2,
                                                            "cutoff": 3.5}])
    compare(pot, 60)


def test_multi_fidelity_and_a_single_layer():
    pot = mlip.build_potential(small_config(fidelities=("low", "high")), seed=3)
    with torch.no_grad():
        for p in pot.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0), dtype=p.dtype))
    compare(pot, 80)
    compare(mlip.build_potential(small_config(n_layers=1), seed=4), 80)


def test_potential_switches_to_blocks_above_the_threshold_and_coulomb_stays_whole():
    system = batch()
    for config in (small_config(), small_config(long_range="coulomb")):
        pot = mlip.build_potential(config, seed=5)
        edges = neighbor_list(system, pot.cutoff)
        whole = pot(system, edges, compute_stress=True)
        pot.set_max_edges_per_chunk(50)
        blocks = pot(system, edges, compute_stress=True)
        assert float((blocks.forces - whole.forces).abs().max()) <= 1e-10 * float(whole.forces.abs().max())
        assert torch.allclose(blocks.stress, whole.stress, rtol=1e-10, atol=1e-14)
    assert chunked_prediction(pot.model, system, edges, False, 50) is None  # Coulomb: no layered form


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100"])
def test_bad_chunk_sizes_are_refused(bad):
    pot = mlip.build_potential(small_config(), seed=6)
    with pytest.raises(ConfigError, match="max_edges_per_chunk"):
        pot.set_max_edges_per_chunk(bad)
