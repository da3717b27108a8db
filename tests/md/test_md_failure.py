"""Unstable runs stop with a SimulationError that names the problem; the last good frame and a
checkpoint of it are kept."""
import ase.io
import pytest
import torch

import md
from md_systems import argon_liquid, argon_lj
from mlip.errors import SimulationError
from mlip.types import Prediction


class NaNAfter:
    """LJ that returns NaN forces from its ``n``-th call on."""

    def __init__(self, base, n):
        self.base, self.n, self.calls, self.cutoff = base, n, 0, base.cutoff

    def __call__(self, system, edges, compute_stress=False):
        self.calls += 1
        p = self.base(system, edges, compute_stress)
        if self.calls > self.n:
            return Prediction(p.energy, p.forces * float("nan"), p.stress, p.atomic_energies)
        return p


def writers(tmp_path):
    return [md.AseTrajectoryReporter(str(tmp_path / "traj.extxyz"), 100),
            md.CheckpointReporter(str(tmp_path / "checkpoint.pt"), 100),
            md.ThermoReporter(str(tmp_path / "thermo.csv"), 5)]


def test_exploding_run_stops_with_diagnosis_and_keeps_last_good_frame(tmp_path):
    # compressed argon (a = 4.6 Å instead of 5.26 Å) at 300 K with a 30 fs step: blows up after ~50 steps
    atoms = argon_liquid(repeat=2, a_A=4.6, seed=1, jitter_A=0.1)
    lj = argon_lj(7.0)
    state = md.initial_state(atoms, lj, temperature_K=300.0, seed=0)
    with pytest.raises(SimulationError) as error:
        md.run(state, lj, md.VelocityVerlet(30.0), 300, writers(tmp_path))
    message = str(error.value)
    assert "reduce timestep_fs" in message and "Last good state" in message
    assert "traj.extxyz" in message and "checkpoint.pt" in message
    frames = ase.io.read(tmp_path / "traj.extxyz", ":")
    last_good = frames[-1].info["step"]
    assert last_good > 0  # written at failure time, off the 100-step interval
    data = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert data["state"]["step"] == last_good
    assert torch.isfinite(data["state"]["forces"]).all()


def test_non_finite_forces_are_reported_with_the_atom(tmp_path):
    lj = argon_lj(7.0)
    ff = NaNAfter(lj, 6)
    state = md.initial_state(argon_liquid(repeat=1), ff, temperature_K=50.0)
    with pytest.raises(SimulationError, match=r"force on atom 0 \(Ar\) is not finite") as error:
        md.run(state, ff, md.VelocityVerlet(5.0), 20, writers(tmp_path))
    assert "step 5 -> 6" in str(error.value)  # call 1 is the initial state, call k+1 is step k
    assert ase.io.read(tmp_path / "traj.extxyz", ":")[-1].info["step"] == 5
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["state"]["step"] == 5


def test_energy_explosion_limit(tmp_path):
    lj = argon_lj(7.0)
    state = md.initial_state(argon_liquid(repeat=1), lj, temperature_K=50.0)
    limits = md.StabilityLimits(max_displacement_A=10.0, max_energy_change_eV_per_atom=1e-9)
    with pytest.raises(SimulationError, match="conserved energy changed"):
        md.run(state, lj, md.VelocityVerlet(5.0), 20, limits=limits)  # checked at step 10
