"""Exploration: MD with the current committee at each condition, sampling frames with their σ.

The σ of a frame is the committee's largest per-atom force spread, eV/Å, computed by
:func:`md.committee_spread.spread_at`: the same number (calibration scale included) that
``mlip md`` writes as ``max_forces_std_eV_per_A`` and checks with ``--max-forces-std``. A run
ends early after sampling a frame whose σ passes ``stop_sigma_eV_per_A`` (that frame is kept),
or when it becomes unstable (frames up to the last sample are kept), because the worst ones are what the loop is looking for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List

import numpy as np

import md
from md.committee_spread import spread_at
from md.frames import atoms_from_state
from mlip.errors import SimulationError
from mlip.learn.conditions import Condition


@dataclass(frozen=True)
class Sample:
    """A frame sampled during exploration: atoms (no labels), its σ (eV/Å) and provenance."""

    atoms: Any
    sigma_eV_per_A: float
    condition: str
    step: int


@dataclass(frozen=True)
class Exploration:
    """What one condition's run produced: its samples, simulated time (fs), and why it stopped
    early ("" when it ran all its steps)."""

    samples: List[Sample]
    simulated_fs: float
    stopped: str


class TooUncertain(Exception):
    """Raised by :class:`SpreadSampler` to end a run whose σ passed the stop level."""


class SpreadSampler(md.Reporter):
    """Every ``interval`` steps: the state as an ``ase.Atoms`` with its committee σ (eV/Å);
    per-atom σ is kept in ``atoms.arrays["sigma_forces"]`` (eV/Å). After sampling a frame whose
    σ passes ``stop_sigma_eV_per_A`` it ends the run (:class:`TooUncertain`): that frame is kept."""

    order = 20
    key = "learn_sampler"

    def __init__(self, interval: int, condition: str, stop_sigma_eV_per_A: float = float("inf")):
        self.interval = md.reporters.base.check_interval(interval)
        self.condition = condition
        self.stop_sigma_eV_per_A = stop_sigma_eV_per_A
        self.samples: List[Sample] = []

    def start(self, state, context) -> None:
        self.report(state, context)

    def report(self, state, context) -> None:
        spread = spread_at(context.forcefield, state)
        atoms = atoms_from_state(state)
        atoms.calc = None
        atoms.arrays.pop("momenta", None)
        atoms.set_masses(None)  # standard masses: the frame is a structure, not a state
        atoms.arrays["sigma_forces"] = spread.forces_std.detach().cpu().double().numpy()
        self.samples.append(Sample(atoms, float(spread.max_forces_std_eV_per_A), self.condition, int(state.step)))
        if spread.max_forces_std_eV_per_A > self.stop_sigma_eV_per_A:
            raise TooUncertain(f"step {state.step}: force spread {spread.max_forces_std_eV_per_A:.3g} eV/Å on atom "
                               f"{spread.atom_index} passed {self.stop_sigma_eV_per_A:g} eV/Å")


def explore(potential, condition: Condition, timestep_fs: float, sample_every_steps: int, seed: int,
            stop_sigma_eV_per_A: float, friction_per_fs: float = 0.01, barostat_tau_fs: float = 500.0) -> Exploration:
    """Run ``condition`` with ``potential`` (a committee) and return the sampled frames.

    Args:
        potential: a committee :class:`mlip.potential.Potential` (an md force field).
        condition: the system, temperature (K), pressure (GPa) and steps.
        timestep_fs: MD time step, fs.
        sample_every_steps: sampling interval (the first state is sampled too).
        seed: seed of the initial velocities and the thermostat's noise.
        stop_sigma_eV_per_A: end the run when the largest force spread passes this, eV/Å.
        friction_per_fs: Langevin friction, 1/fs.
        barostat_tau_fs: barostat relaxation time of NPT conditions, fs.
    """
    npt = {}
    if condition.ensemble == "npt":
        npt = {"pressure_GPa": condition.pressure_GPa, "barostat_tau_fs": barostat_tau_fs,
               "flexibility": "triclinic" if _is_triclinic(condition.atoms) else "isotropic"}
    integrator = md.make_integrator(condition.ensemble, timestep_fs, condition.temperature_K,
                                    friction_per_fs=friction_per_fs, **npt)
    sampler = SpreadSampler(sample_every_steps, condition.name, stop_sigma_eV_per_A)
    stopped = ""
    try:
        state = md.initial_state(condition.atoms, potential, temperature_K=condition.temperature_K, seed=seed)
        state = md.run(state, potential, integrator, condition.steps, reporters=[sampler])
        simulated = state.time_fs
    except (TooUncertain, SimulationError) as exc:  # the worst frames are kept: they are what we look for
        stopped = str(exc).split(";")[0]
        simulated = sampler.samples[-1].step * timestep_fs if sampler.samples else 0.0
    return Exploration(sampler.samples, float(simulated), stopped)


def _is_triclinic(atoms) -> bool:
    cell = np.array(atoms.cell)
    return bool(np.abs(cell - np.diag(np.diag(cell))).max() > 1e-8)
