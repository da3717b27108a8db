"""Bad batch inputs stop with a ConfigError naming the problem and the fix; an exploding system
stops the batch with a diagnosis naming that system, and the batch checkpoint keeps every
system's last good state (all at the same step)."""
import pytest
import torch

import md
from md.config import MDConfig
from md_systems import argon_crystal, argon_liquid, argon_lj
from mlip.errors import ConfigError, SimulationError


def states(lj, n=2, dtype=torch.float64):
    return [md.initial_state(argon_crystal(1), lj, 30.0, seed=k, dtype=dtype) for k in range(n)]


@pytest.mark.parametrize("values, message", [
    ({"structure": "a.xyz", "replicas": 2, "temperature_K": [300.0, 600.0, 900.0]},
     r"3 temperatures for 2 systems .*--replicas 3"),
    ({"structure": ["a.xyz", "b.xyz"], "replicas": 2, "temperature_K": [300.0, 600.0]}, r"2 temperatures for 4 systems"),
    ({"structure": "a.xyz", "replicas": 0}, r"replicas must be an integer >= 1"),
    ({"structure": "a.xyz", "replicas": 3, "seeds": [1, 2]}, r"2 seeds for 3 systems"),
    ({"structure": "a.xyz", "replicas": 2, "ensemble": "langevin", "temperature_K": [300.0, -5.0]},
     r"temperature_K must be > 0"),
    ({"structure": [], "replicas": 1}, r"structure must be a file name or a list"),
    ({"structure": "a.xyz", "replicas": 3, "ensemble": "npt", "pressure_GPa": [0.0, 1.0]},
     r"2 pressures for 3 systems .*--replicas 2"),
    ({"structure": "a.xyz", "replicas": 2, "ensemble": "bussi", "pressure_GPa": [0.0, 1.0]},
     r"keeps the volume fixed; use --ensemble npt"),
    ({"structure": "a.xyz", "replicas": 2, "ensemble": "npt", "pressure_GPa": []}, r"pressure_GPa is an empty list"),
    ({"structure": "a.xyz", "replicas": 2, "ensemble": "npt", "pressure_GPa": [0.0, float("nan")]}, r"pressure"),
])
def test_mismatched_batch_settings_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        MDConfig(**values)


def test_one_structure_and_one_temperature_read_as_before():
    config = MDConfig(structure=["a.xyz"], temperature_K=[250.0])
    assert config.structure == "a.xyz" and config.temperature_K == pytest.approx(250.0, rel=1e-15)
    config = MDConfig(structure="a.xyz", ensemble="npt", pressure_GPa=[0.5])
    assert config.pressure_GPa == pytest.approx(0.5, rel=1e-15)


def test_mixed_dtypes_are_refused():
    lj = argon_lj(6.0)
    mixed = states(lj, 1) + states(lj, 1, dtype=torch.float32)
    with pytest.raises(ConfigError, match="share one dtype and device"):
        md.run_batch(mixed, lj, md.VelocityVerlet(5.0), 2)


class NoSplit:
    """An integrator without begin_step/finish_step (as one added later may be)."""

    name, timestep_fs, shadow_applies = "no-split", 5.0, False

    def init(self, state):
        return state

    def step(self, state, forcefield, compute_stress=False):
        return md.VelocityVerlet(5.0).step(state, forcefield, compute_stress)

    def conserved_energy_eV(self, state):
        return 0.0

    def parameters(self):
        return {"ensemble": self.name}

    def extended_to_dict(self, extended):
        return {}

    def extended_from_dict(self, data):
        return None


def test_integrators_without_the_split_step_are_refused_but_still_run_alone():
    lj = argon_lj(6.0)
    with pytest.raises(ConfigError, match="ensemble .no-split. does not support batched runs yet"):
        md.run_batch(states(lj), lj, NoSplit(), 2)
    assert md.run(states(lj, 1)[0], lj, NoSplit(), 2).step == 2


def test_inconsistent_batch_arguments_are_refused(tmp_path):
    lj = argon_lj(6.0)
    two = states(lj)
    with pytest.raises(ConfigError, match="3 integrators for 2 systems"):
        md.run_batch(two, lj, [md.VelocityVerlet(5.0)] * 3, 2)
    shared = md.ThermoReporter(str(tmp_path / "thermo.csv"), 1)
    with pytest.raises(ConfigError, match="make one per system"):
        md.run_batch(two, lj, md.VelocityVerlet(5.0), 2, [[shared], [shared]])
    with pytest.raises(ConfigError, match="same step"):
        md.run_batch([two[0], md.run(two[1], lj, md.VelocityVerlet(5.0), 1)], lj, md.VelocityVerlet(5.0), 2)
    with pytest.raises(ConfigError, match="one list .* per system"):
        md.run_batch(two, lj, md.VelocityVerlet(5.0), 2, [[]])


def test_batch_and_solo_checkpoints_are_not_interchangeable(tmp_path):
    lj = argon_lj(6.0)
    two = states(lj)
    md.run_batch(two, lj, md.VelocityVerlet(5.0), 2, checkpoint_path=str(tmp_path / "batch.pt"))
    md.run(two[0], lj, md.VelocityVerlet(5.0), 2, [md.CheckpointReporter(str(tmp_path / "solo.pt"))])
    with pytest.raises(ConfigError, match="batch of systems restarts from a batch checkpoint"):
        md.load_checkpoint(str(tmp_path / "batch.pt"), md.VelocityVerlet(5.0))
    with pytest.raises(ConfigError, match="batch of systems restarts from a batch checkpoint"):
        md.load_batch_checkpoint(str(tmp_path / "solo.pt"), [md.VelocityVerlet(5.0)])
    with pytest.raises(ConfigError, match="holds 2 systems"):
        md.load_batch_checkpoint(str(tmp_path / "batch.pt"), [md.VelocityVerlet(5.0)] * 3)


def test_an_exploding_system_stops_the_batch_naming_it(tmp_path):
    lj = argon_lj(7.0)
    calm = md.initial_state(argon_liquid(repeat=2, seed=1), lj, 60.0, seed=0)
    # compressed argon at 300 K: with a 30 fs step it blows up after some tens of steps
    wild = md.initial_state(argon_liquid(repeat=2, a_A=4.6, seed=1, jitter_A=0.1), lj, 300.0, seed=0)
    frames = [md.AseTrajectoryReporter(str(tmp_path / f"traj{k}.extxyz"), 1000) for k in range(3)]
    with pytest.raises(SimulationError) as error:
        md.run_batch([calm, wild, calm], lj, md.VelocityVerlet(30.0), 300, [[f] for f in frames],
                     checkpoint_path=str(tmp_path / "batch.pt"), names=["calm", "wild", "calm again"])
    message = str(error.value)
    assert message.startswith("wild (of 3): step ") and "reduce timestep_fs" in message
    assert "traj1.extxyz" in message and "calm (of 3)" not in message and "traj0" not in message
    kept = md.load_batch_checkpoint(str(tmp_path / "batch.pt"), [md.VelocityVerlet(30.0)] * 3)
    assert len({s.step for s in kept}) == 1 and kept[0].step > 0
    assert all(bool(torch.isfinite(s.forces).all()) for s in kept)
