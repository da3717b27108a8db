"""The layer-by-layer LAMMPS methods (mlip.export.lammps_layered), without LAMMPS: a periodic
crystal is turned into local atoms plus explicit ghost images one cutoff deep, as LAMMPS holds
them on one rank; the reference driver exchanges features between layers (ghost rows copied from
their owners, gradients summed back). Energy and forces must equal the potential's own."""
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list

import mlip
from mlip.export.lammps_layered import evaluate_with_exchange, evaluate_with_exchange_in_blocks
from mlip.layered import LayeredModel, layered_parts
from model_fixtures import small_config


def ghost_graph(atoms, cutoff):
    """(positions, numbers, edge_index, n_local, owner) with ghosts as explicit images."""
    i, j, shifts = ase_neighbor_list("ijS", atoms, cutoff)
    n = len(atoms)
    cell, pos = atoms.cell.array, atoms.positions
    index, ghost_pos, owner, senders = {}, [], list(range(n)), []
    for a, b, s in zip(i, j, shifts):
        if not s.any():
            senders.append(b)
            continue
        key = (b, tuple(s))
        if key not in index:
            index[key] = n + len(ghost_pos)
            ghost_pos.append(pos[b] + s @ cell)
            owner.append(b)
        senders.append(index[key])
    positions = torch.tensor(np.vstack([pos] + ([np.array(ghost_pos)] if ghost_pos else [])))
    numbers = torch.tensor(atoms.numbers[owner])
    return positions, numbers, torch.tensor(np.vstack([i, senders])), n, torch.tensor(owner)


def crystal(seed=1):
    atoms = bulk("C", "diamond", a=3.9, cubic=True)
    atoms.numbers[::3] = 8
    atoms.numbers[1::4] = 1
    atoms.rattle(0.15, seed=seed)
    return atoms


def reference(pot, atoms):
    atoms = atoms.copy()
    atoms.calc = mlip.MLIPCalculator(pot)
    return atoms.get_potential_energy(), atoms.get_forces()


def check(pot, atoms, scripted=True, rtol=1e-10, max_edges=None):
    parts = layered_parts(pot.model)
    assert parts is not None
    module = LayeredModel(*parts)
    if scripted:
        module = torch.jit.script(module)
    positions, numbers, edge_index, n, owner = ghost_graph(atoms, pot.cutoff)
    assert positions.shape[0] > 2 * n  # many ghosts: a small cell, images of images
    if max_edges is None:
        energy, forces, _ = evaluate_with_exchange(module, positions.to(pot.dtype), numbers, edge_index, n, owner)
    else:
        assert edge_index.shape[1] > 3 * max_edges  # several blocks
        energy, forces, _ = evaluate_with_exchange_in_blocks(module, positions.to(pot.dtype), numbers, edge_index, n,
                                                             owner, max_edges)
    total = forces[:n].index_add(0, owner[n:], forces[n:])  # LAMMPS: ghost forces to their owners
    e_ref, f_ref = reference(pot, atoms)
    assert abs(float(energy) - e_ref) <= rtol * max(1.0, abs(e_ref))
    assert np.abs(total.double().numpy() - f_ref).max() <= rtol * np.abs(f_ref).max()
    assert float(total.sum(0).abs().max()) <= 1e3 * rtol * np.abs(f_ref).max()  # ΣF = 0


@pytest.mark.parametrize("scripted", [False, True])
def test_exchange_equals_the_potential_on_a_periodic_crystal(scripted):
    pot = mlip.build_potential(small_config(), seed=3)
    check(pot, crystal(), scripted=scripted)


@pytest.mark.parametrize("max_edges", [1, 50])
def test_exchange_in_blocks_equals_the_potential(max_edges):
    """Bounded memory: receivers in blocks, earlier layers recomputed, gradients exchanged."""
    check(mlip.build_potential(small_config(), seed=3), crystal(), max_edges=max_edges)
    pot = mlip.build_potential(small_config(n_layers=2, l_max=1, channels=4), seed=9, committee_size=2,
                               baselines=[{"kind": "zbl"}])
    check(pot, crystal(5), max_edges=max_edges)
    check(mlip.build_potential(small_config(n_layers=1), seed=10), crystal(6), max_edges=max_edges)


def test_exchange_committee_with_pair_baselines():
    pot = mlip.build_potential(small_config(n_layers=2, l_max=1, channels=4), seed=4, committee_size=3,
                               baselines=[{"kind": "zbl"}, {"kind": "lennard_jones", "epsilon": 0.01, "sigma": 1.2,
                                                            "cutoff": 3.5}])
    check(pot, crystal(2))


@pytest.mark.parametrize("coupling", ["rho_delta", "heads"])
def test_exchange_multi_fidelity_model(coupling):
    pot = mlip.build_potential(small_config(fidelities=("low", "high"), fidelity_coupling=coupling), seed=5)
    with torch.no_grad():  # non-trivial fidelity parameters
        for p in pot.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0), dtype=p.dtype))
    check(pot, crystal(3))


def test_exchange_float32():
    pot = mlip.build_potential(small_config(), dtype=torch.float32, seed=6)
    check(pot, crystal(4), rtol=2e-4)


def test_coulomb_models_have_no_layered_form():
    pot = mlip.build_potential(small_config(long_range="coulomb"), seed=7)
    assert layered_parts(pot.model) is None


def test_feature_dims_follow_the_architecture():
    pot = mlip.build_potential(small_config(n_layers=3, l_max=2, channels=8), seed=8, committee_size=2)
    module = LayeredModel(*layered_parts(pot.model))
    # embedding scalars, two l<=2 layers (9 components), scalars out; two members side by side
    assert module.feature_dims() == [16, 144, 144, 16]
