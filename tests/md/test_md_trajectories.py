"""Written trajectories read back with ASE and mdtraj; coordinates match the (wrapped) state."""
import ase.io
import mdtraj
import numpy as np
import pytest
import torch

import md
from md.frames import wrapped_positions
from md_systems import argon_cluster13, argon_liquid, argon_lj


class Keep(md.Reporter):
    key = "keep"

    def __init__(self, interval):
        self.interval, self.states = interval, []

    def start(self, state, context):
        self.states.append(state)

    def report(self, state, context):
        self.states.append(state)


def run_with_writers(tmp_path, atoms, lj, n_steps=30, interval=10):
    state = md.initial_state(atoms, lj, temperature_K=300.0, seed=2)
    keep = Keep(interval)
    paths = {fmt: str(tmp_path / f"traj.{fmt}") for fmt in ("extxyz", "traj", "dcd", "xtc")}
    writers = [md.AseTrajectoryReporter(paths["extxyz"], interval), md.AseTrajectoryReporter(paths["traj"], interval),
               md.MdtrajTrajectoryReporter(paths["dcd"], interval), md.MdtrajTrajectoryReporter(paths["xtc"], interval)]
    md.run(state, lj, md.VelocityVerlet(10.0), n_steps, [keep] + writers)
    return keep.states, paths


def test_ase_and_mdtraj_read_back_wrapped_coordinates_of_a_periodic_run(tmp_path):
    states, paths = run_with_writers(tmp_path, argon_liquid(repeat=2, seed=9), argon_lj(7.0))
    expected = [wrapped_positions(s) for s in states]
    cell = states[0].system.cell[0].numpy()
    assert any((s.positions.numpy() != w).any() for s, w in zip(states, expected))  # something was wrapped
    for fmt in ("extxyz", "traj"):
        frames = ase.io.read(paths[fmt], ":")
        assert len(frames) == len(states)
        for frame, state, pos in zip(frames, states, expected):
            assert np.abs(frame.positions - pos).max() < 1e-6
            assert np.allclose(frame.cell[:], cell)
            assert frame.get_potential_energy() == pytest.approx(float(state.potential_energy), abs=1e-8)
            assert np.abs(frame.get_forces() - state.forces.numpy()).max() < 1e-8
    dcd = mdtraj.load(paths["dcd"], top=str(tmp_path / "traj.pdb"))
    xtc = mdtraj.load(paths["xtc"], top=str(tmp_path / "traj.pdb"))
    assert dcd.n_frames == xtc.n_frames == len(states)
    for k, pos in enumerate(expected):
        assert np.abs(dcd.xyz[k] * 10.0 - pos).max() < 1e-3  # float32 Å
        assert np.abs(xtc.xyz[k] * 10.0 - pos).max() < 0.011  # XTC precision 1e-3 nm
    assert np.allclose(dcd.unitcell_lengths[0] * 10.0, np.linalg.norm(cell, axis=1), atol=1e-4)
    assert np.allclose(xtc.time, [s.time_fs * 1e-3 for s in states])
    assert [a.element.symbol for a in dcd.topology.atoms] == ["Ar"] * len(expected[0])


def test_non_periodic_positions_are_written_unchanged(tmp_path):
    states, paths = run_with_writers(tmp_path, argon_cluster13(), argon_lj(20.0), n_steps=20)
    frames = ase.io.read(paths["extxyz"], ":")
    dcd = mdtraj.load(paths["dcd"], top=str(tmp_path / "traj.pdb"))
    for frame, state, k in zip(frames, states, range(len(states))):
        assert np.abs(frame.positions - state.positions.numpy()).max() < 1e-6
        assert np.abs(dcd.xyz[k] * 10.0 - state.positions.numpy()).max() < 1e-3
    assert dcd.unitcell_lengths is None


def test_state_keeps_unwrapped_positions():
    atoms = argon_liquid(repeat=1, seed=0)
    lj = argon_lj(5.0)
    state = md.initial_state(atoms, lj, velocities_A_per_fs=torch.full((4, 3), 0.05, dtype=torch.float64))
    state = md.run(state, lj, md.VelocityVerlet(5.0), 40)  # ~10 Å of drift, the box is 5.7 Å
    fractional = np.linalg.solve(state.system.cell[0].numpy().T, state.positions.numpy().T).T
    assert (fractional > 1.0).any()
    assert ((wrapped_positions(state) @ np.linalg.inv(state.system.cell[0].numpy())) < 1.0).all()
