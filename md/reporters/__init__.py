"""Reporters for :func:`md.run`: thermo CSV, trajectories, energy/shadow monitor, checkpoints,
progress bar (see :mod:`md.reporters.base` for the interface)."""
from md.reporters.ase_trajectory import AseTrajectoryReporter
from md.reporters.base import Reporter, RunContext
from md.reporters.checkpoint import CheckpointReporter
from md.reporters.energy_monitor import EnergyMonitor
from md.reporters.mdtraj_trajectory import MdtrajTrajectoryReporter
from md.reporters.progress import ProgressReporter
from md.reporters.thermo import ThermoReporter
from md.reporters.trajectory_writer import TrajectoryWriter

__all__ = ["AseTrajectoryReporter", "CheckpointReporter", "EnergyMonitor", "MdtrajTrajectoryReporter",
           "ProgressReporter", "Reporter", "RunContext", "ThermoReporter", "TrajectoryWriter"]
