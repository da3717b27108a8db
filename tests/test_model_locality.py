"""Smoothness at the cutoff, additivity of far-apart fragments, batch == each system alone."""
import ase
import numpy as np
import torch

import mlip
from model_fixtures import predict, random_crystal, random_molecule


def _isolated(pot, z):
    return float(predict(pot, [ase.Atoms(numbers=[z], positions=[[0, 0, 0]])]).energy[0])


def test_energy_and_force_go_smoothly_to_zero_at_cutoff(potential64):
    rc = potential64.cutoff
    e_inf = _isolated(potential64, 6) + _isolated(potential64, 8)

    def dimer(r):
        p = predict(potential64, [ase.Atoms("CO", positions=[[0, 0, 0], [r, 0, 0]])])
        return float(p.energy[0]) - e_inf, float(p.forces[1, 0])

    e_near, f_near = dimer(rc - 1e-3)
    e_in, _ = dimer(rc - 0.3)
    assert abs(e_in) > 1e-6  # the pair does interact inside
    assert abs(e_near) < 1e-8 and abs(f_near) < 1e-5
    e_out, f_out = dimer(rc + 1e-6)
    # no edge beyond r_c: the force is exactly zero, the energy equals the isolated atoms' sum
    # (the same two atomic energies, summed by another path: equal to rounding)
    assert abs(e_out) < 1e-12 * max(1.0, abs(e_inf)) and f_out == 0.0
    # the energy curve approaches zero faster than linearly (C^2 envelope)
    e1, _ = dimer(rc - 1e-2)
    e2, _ = dimer(rc - 2e-2)
    assert abs(e1) < abs(e2) / 4


def test_fragments_beyond_cutoff_are_additive(potential64):
    a = random_molecule(n_atoms=5, seed=7)
    b = random_molecule(n_atoms=4, seed=8)
    b.positions += [potential64.cutoff * 3 + 10.0, 0, 0]
    both = a + b
    pa, pb, pab = predict(potential64, [a]), predict(potential64, [b]), predict(potential64, [both])
    assert abs(float(pab.energy[0] - pa.energy[0] - pb.energy[0])) < 1e-10 * abs(float(pab.energy[0]))
    np.testing.assert_allclose(pab.forces.numpy(), np.concatenate([pa.forces.numpy(), pb.forces.numpy()]), atol=1e-11)


def test_batch_equals_each_system_alone(potential64):
    frames = [random_molecule(seed=9), random_crystal(seed=10), random_molecule(n_atoms=3, seed=11)]
    batch = predict(potential64, frames, stress=True)
    start = 0
    for k, atoms in enumerate(frames):
        alone = predict(potential64, [atoms], stress=True)
        n = len(atoms)
        assert abs(float(batch.energy[k] - alone.energy[0])) < 1e-10 * abs(float(alone.energy[0]))
        np.testing.assert_allclose(batch.forces[start : start + n].numpy(), alone.forces.numpy(), atol=1e-11)
        if atoms.pbc.any():
            np.testing.assert_allclose(batch.stress[k].numpy(), alone.stress[0].numpy(), atol=1e-12)
        start += n


def test_single_isolated_atom_has_energy_shift_and_no_force(potential64):
    p = predict(potential64, [ase.Atoms("O", positions=[[1.0, 2.0, 3.0]])])
    assert p.forces.abs().max() == 0.0
    assert torch.isfinite(p.energy).all()
