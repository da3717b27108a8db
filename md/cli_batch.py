"""What ``mlip md`` does with several systems (``--structure a.xyz b.xyz …``, ``--replicas N``):
one batched run (:func:`md.run_batch`), one force call per step for all systems.

Systems, temperatures and seeds: :mod:`md.batch_config`. As for one system, every input is
checked before anything is written. Outputs in ``output_dir``: ``config.yaml`` (resolved
settings, per-system seeds included), ``systems.csv`` (index, directory, structure, replica,
temperature_K, pressure_GPa (empty at constant volume), seed), ``checkpoint.pt`` (one batch checkpoint, :mod:`md.batch_checkpoint`),
and per system ``system_000/`` … with the files a one-system run writes (``config.yaml`` —
the settings of the one-system run with this system's structure, temperature and seed, which
follows the same trajectory — ``thermo.csv``, ``trajectory.<fmt>``, ``drift.json``,
``energy.png``), so ``mlip analyze OUTPUT/system_003`` reads it as any run. ``mlip md
--restart OUTPUT`` continues the whole batch.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple

import torch

from mlip.atomic_io import atomic_open
from mlip.errors import ConfigError

from md.batch_checkpoint import load_batch_checkpoint, read_batch_checkpoint
from md.batch_config import SystemSpec, system_specs
from md.batch_run import run_batch
from md.cli_run import (_checkpoint_path, _device, _output_paths, _read_structure, _reporters, _write_config)
from md.config import MDConfig
from md.drift import DriftReport
from md.ensembles import make_integrator
from md.npt import npt_settings
from md.initial_state import initial_state
from md.reporters import CheckpointReporter, ProgressReporter
from md.stability import StabilityLimits
from md.state import State


class BatchSummary(NamedTuple):
    """One line on the energy conservation of every system (``diagnosis``)."""

    diagnosis: str


@dataclass
class BatchRunResult:
    """What a finished batch ``mlip md`` run produced.

    Attributes:
        states: the final state of each system.
        reports: each system's energy-drift report (also in its ``drift.json``).
        systems: each system's structure, replica, temperature, pressure and seed.
        output_dir: where the files are (per-system files in ``system_000/`` …).
        files: output name -> path (top level: config, systems, checkpoint).
        n_steps_run: steps taken by this call (by every system).
        ns_per_day: simulation speed of each system, ns/day.
        atom_steps_per_s: atoms × steps per wall-clock second, all systems together.
    """

    states: List[State]
    reports: List[DriftReport]
    systems: List[SystemSpec]
    output_dir: str
    files: Dict[str, str] = field(default_factory=dict)
    n_steps_run: int = 0
    ns_per_day: float = 0.0
    atom_steps_per_s: float = 0.0

    @property
    def report(self) -> BatchSummary:
        """How many systems got which energy verdict (details in each ``drift.json``)."""
        counts: Dict[str, int] = {}
        for r in self.reports:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        return BatchSummary(f"{len(self.reports)} systems: {verdicts} (each system's drift.json has its diagnosis)")


def run_batch_from_config(config: MDConfig, forcefield) -> BatchRunResult:
    """Run the systems of ``config`` as one batch with ``forcefield`` (already checked)."""
    device = _device(config.device)
    dtype = getattr(torch, config.dtype)
    if config.seeds is None:
        config = dataclasses.replace(config, seeds=[s.seed for s in system_specs(config)])
    specs = system_specs(config)
    integrators = [make_integrator(config.ensemble, config.timestep_fs, s.temperature_K, config.friction_per_fs,
                                   config.tau_fs, config.chain_length, **npt_settings(_one_system(config, s)))
                   for s in specs]
    limits = StabilityLimits(config.max_displacement_A, config.max_energy_change_eV_per_atom,
                             max_forces_std_eV_per_A=config.max_forces_std_eV_per_A)
    top = {name: os.path.join(config.output_dir, f"{name}.{ext}")
           for name, ext in (("config", "yaml"), ("systems", "csv"), ("checkpoint", "pt"))}
    folders = [os.path.join(config.output_dir, s.name) for s in specs]
    reporters = [_system_reporters(config, folder) for folder in folders]
    if config.restart is not None:
        checkpoint = _checkpoint_path(config.restart)
        read_batch_checkpoint(checkpoint)  # validates before anything is written
        states = load_batch_checkpoint(checkpoint, integrators, reporters, device)
        if states[0].step > config.steps:
            raise ConfigError(f"the checkpoint is at step {states[0].step}, beyond steps={config.steps}; "
                              "give the total number of steps the trajectories should reach")
    else:
        if os.path.exists(top["checkpoint"]) and not config.overwrite:
            raise ConfigError(f"{config.output_dir!r} already holds a run (checkpoint.pt); choose another --output, "
                              "continue it with --restart, or set overwrite")
        structures = {path: _read_structure(path) for path in dict.fromkeys(s.structure for s in specs)}
        states = []
        for spec, integrator in zip(specs, integrators):
            temperature = spec.temperature_K if config.init_temperature_K is None else config.init_temperature_K
            state = initial_state(structures[spec.structure], forcefield, temperature, spec.seed,
                                  fixed=config.fixed_atoms or None, skin_A=config.skin_A, dtype=dtype, device=device)
            states.append(integrator.init(state))
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    _write_config(config, top["config"])
    _write_systems(specs, top["systems"])
    for spec, folder in zip(specs, folders):  # what a one-system run of this system would read
        _write_config(dataclasses.replace(_one_system(config, spec), output_dir=folder), os.path.join(folder, "config.yaml"))
    progress = ProgressReporter(max(1, config.steps // 200), enabled=config.progress)
    reporters[0].append(progress)
    n_steps = config.steps - states[0].step
    start = time.perf_counter()
    states = run_batch(states, forcefield, integrators, n_steps, reporters, limits, top["checkpoint"],
                       config.checkpoint_interval, [_label(s) for s in specs])
    seconds = time.perf_counter() - start
    atom_steps = sum(s.n_atoms for s in states) * n_steps / seconds if seconds > 0 else 0.0
    return BatchRunResult(states, [r[0].last_report for r in reporters], specs, config.output_dir,
                          {k: v for k, v in top.items() if os.path.exists(v)}, n_steps, progress.ns_per_day,
                          atom_steps)


def _one_system(config: MDConfig, spec: SystemSpec) -> MDConfig:
    """The settings of the one-system run that follows the trajectory of ``spec`` in the batch."""
    return dataclasses.replace(config, structure=spec.structure, temperature_K=spec.temperature_K, seed=spec.seed,
                               pressure_GPa=spec.pressure_GPa, replicas=1, seeds=None)


def _label(spec: SystemSpec) -> str:
    """How error messages name a system, e.g. ``system_002 (a.xyz, replica 2, 300 K, 1 GPa)``."""
    pressure = "" if spec.pressure_GPa is None else f", {spec.pressure_GPa:g} GPa"
    return f"{spec.name} ({spec.structure}, replica {spec.replica}, {spec.temperature_K:g} K{pressure})"


def _system_reporters(config: MDConfig, folder: str) -> list:
    """The reporters of a one-system run writing into ``folder``, without its checkpoint (the
    batch writes one for all) and progress bar (one for the batch)."""
    sub = dataclasses.replace(config, output_dir=folder)
    return [r for r in _reporters(sub, _output_paths(sub)) if not isinstance(r, (CheckpointReporter, ProgressReporter))]


def _write_systems(specs: List[SystemSpec], path: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["index", "directory", "structure", "replica", "temperature_K", "pressure_GPa", "seed"])
        for s in specs:
            pressure = "" if s.pressure_GPa is None else repr(s.pressure_GPa)
            writer.writerow([s.index, s.name, s.structure, s.replica, repr(s.temperature_K), pressure, s.seed])
