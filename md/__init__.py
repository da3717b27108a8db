"""md: molecular dynamics with any force field that follows :mod:`md.forcefield`.

Units: Å, eV, amu, fs, K (velocities Å/fs). Importing md changes no global state.

Example:
    >>> import ase.build, md
    >>> atoms = ase.build.bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    >>> lj = md.LennardJones(epsilon_eV=0.0104, sigma_A=3.40, cutoff_A=8.0)
    >>> state = md.initial_state(atoms, lj, temperature_K=60.0, seed=0)
    >>> monitor = md.EnergyMonitor(sample_interval=1, order=8)
    >>> state = md.run(state, lj, md.VelocityVerlet(timestep_fs=5.0), 50, reporters=[monitor])
    >>> monitor.last_report.verdict in ("conservative", "integrator-error", "non-conservative")
    True
"""
from md.batch_checkpoint import load_batch_checkpoint, save_batch_checkpoint
from md.batch_evaluate import evaluate_batch
from md.batch_run import run_batch
from md.bussi import Bussi
from md.cell_rescaling import StochasticCellRescaling
from md.checkpoint import load_checkpoint, save_checkpoint
from md.drift import DriftReport, analyze_drift
from md.ensembles import ENSEMBLES, make_integrator
from md.forcefield import ForceField, evaluate
from md.harmonic import Harmonic
from md.initial_state import initial_state
from md.integrator import Integrator
from md.langevin_baoab import LangevinBAOAB
from md.lennard_jones import LennardJones
from md.maxwell_boltzmann import maxwell_boltzmann_velocities
from md.mtk import MTK
from md.neighbor_cache import NeighborState
from md.nose_hoover_chain import NoseHooverChain
from md.npt import make_npt_integrator
from md.reporters import (AseTrajectoryReporter, CheckpointReporter, EnergyMonitor, MdtrajTrajectoryReporter,
                          ProgressReporter, Reporter, ThermoReporter)
from md.run import run
from md.shadow import shadow_energy_eV
from md.stability import StabilityLimits
from md.state import State, degrees_of_freedom, kinetic_energy_eV, temperature_K
from md.velocity_verlet import VelocityVerlet

__all__ = [
    "AseTrajectoryReporter", "Bussi", "CheckpointReporter", "DriftReport", "ENSEMBLES", "EnergyMonitor",
    "ForceField", "Harmonic", "Integrator", "LangevinBAOAB", "LennardJones", "MTK", "MdtrajTrajectoryReporter",
    "NeighborState", "NoseHooverChain", "ProgressReporter", "Reporter", "StabilityLimits", "State",
    "StochasticCellRescaling", "ThermoReporter", "VelocityVerlet", "analyze_drift", "degrees_of_freedom",
    "evaluate", "evaluate_batch", "initial_state", "kinetic_energy_eV", "load_batch_checkpoint", "load_checkpoint",
    "make_integrator", "make_npt_integrator",
    "maxwell_boltzmann_velocities", "run", "run_batch", "save_batch_checkpoint", "save_checkpoint",
    "shadow_energy_eV", "temperature_K",
]
