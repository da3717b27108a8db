"""What ``mlip md`` calls: validate everything, then run MD and write the outputs.

Nothing is written before every input has been checked (ensemble, time step, temperature,
structure file, elements known to the force field, output directory, checkpoint), so a bad
invocation leaves no half-made output directory behind.

Outputs in ``output_dir``: ``config.yaml`` (resolved settings), ``thermo.csv``,
``trajectory.<fmt>`` (+ ``trajectory.pdb`` topology for DCD/XTC), ``drift.json``,
``energy.png`` and ``checkpoint.pt``. With a committee potential thermo.csv also carries the
committee spread (``energy_std_eV``, ``max_forces_std_eV_per_A``), and ``--max-forces-std``
stops the run when the committee disagrees too much.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import torch

from mlip.atomic_io import atomic_open
from mlip.errors import BackendUnavailableError, ConfigError, InvalidSystemError
from mlip.neighbor_list import resolve_backend as resolve_neighbor_backend

from md.checkpoint import load_checkpoint, read_checkpoint
from md.batch_config import is_batch
from md.config import MDConfig, config_from_mapping, load_config_values
from md.drift import DriftReport
from md.ensembles import make_integrator
from md.npt import npt_settings
from md.forcefield import check_is_forcefield
from md.initial_state import initial_state
from md.reporters import (AseTrajectoryReporter, CheckpointReporter, EnergyMonitor, MdtrajTrajectoryReporter,
                          ProgressReporter, ThermoReporter)
from md.run import run
from md.stability import StabilityLimits
from md.state import State


#: The ``mlip md`` flags of constant-pressure runs (MDConfig fields of the same names).
NPT_FLAGS = ("pressure_GPa", "barostat", "barostat_tau_fs", "cell_flexibility", "compressibility_per_GPa")


class StructureFileError(ConfigError, FileNotFoundError):
    """The structure file does not exist or cannot be read."""


@dataclass
class RunResult:
    """What a finished ``mlip md`` run produced.

    Attributes:
        state: the final state.
        report: energy-drift report (also in ``drift.json``).
        output_dir: where the files are.
        files: output name -> path.
        n_steps_run: steps taken by this call (less than ``steps`` after a restart).
        ns_per_day: simulation speed, ns/day.
        atom_steps_per_s: atoms × steps per wall-clock second.
    """

    state: State
    report: DriftReport
    output_dir: str
    files: Dict[str, str] = field(default_factory=dict)
    n_steps_run: int = 0
    ns_per_day: float = 0.0
    atom_steps_per_s: float = 0.0


def builtin_forcefield(spec: Mapping[str, Any]):
    """A force field from a config mapping ``{"lennard_jones": {epsilon_eV, sigma_A, cutoff_A, ...}}``."""
    from md.lennard_jones import LennardJones

    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError("forcefield must be a mapping with one key, e.g. {lennard_jones: {epsilon_eV: 0.0104, "
                          "sigma_A: 3.4, cutoff_A: 8.5}}")
    (kind, params), = spec.items()
    if kind != "lennard_jones":
        raise ConfigError(f"unknown built-in force field {kind!r}; md provides 'lennard_jones' "
                          "(pass a trained potential with --potential for anything else)")
    try:
        return LennardJones(**dict(params or {}))
    except TypeError as error:
        raise ConfigError(f"bad lennard_jones parameters {dict(params or {})}: {error}") from None


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
    return device


def _checkpoint_path(restart: str) -> str:
    return os.path.join(restart, "checkpoint.pt") if os.path.isdir(restart) else restart


def _read_structure(path: str):
    import ase.io

    if not os.path.isfile(path):
        raise StructureFileError(f"structure file {path!r} does not exist; give a file ASE can read "
                                 "(extxyz, cif, POSCAR, pdb, ...)")
    try:
        frames = ase.io.read(path, index=":")
    except Exception as error:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise StructureFileError(f"cannot read structure file {path!r}: {error}") from None
    if len(frames) == 0:
        raise InvalidSystemError(f"structure file {path!r} holds no structure")
    return frames[-1]


def _output_paths(config: MDConfig) -> Dict[str, str]:
    out = config.output_dir
    paths = {"config": "config.yaml", "thermo": "thermo.csv", "drift": "drift.json", "plot": "energy.png",
             "checkpoint": "checkpoint.pt"}
    paths.update({f"trajectory_{fmt}": f"trajectory.{fmt}" for fmt in config.trajectory_formats})
    return {name: os.path.join(out, p) for name, p in paths.items()}


def _reporters(config: MDConfig, paths: Dict[str, str]) -> List:
    monitor = EnergyMonitor(config.thermo_interval, config.shadow_order, paths["drift"], paths["plot"])
    reporters = [monitor, ThermoReporter(paths["thermo"], config.thermo_interval, monitor)]
    for fmt in config.trajectory_formats:
        path = paths[f"trajectory_{fmt}"]
        if fmt in ("dcd", "xtc"):
            reporters.append(MdtrajTrajectoryReporter(path, config.trajectory_interval))
        else:
            reporters.append(AseTrajectoryReporter(path, config.trajectory_interval))
    reporters.append(CheckpointReporter(paths["checkpoint"], config.checkpoint_interval))
    reporters.append(ProgressReporter(max(1, config.steps // 200), enabled=config.progress))
    return reporters


def run_from_config(config: MDConfig, forcefield=None, max_forces_std_eV_per_A: Optional[float] = None) -> RunResult:
    """Run MD as described by ``config`` with ``forcefield`` (or ``config.forcefield``).

    Several structures or replicas run as one batch and return a
    :class:`md.cli_batch.BatchRunResult` instead (see :mod:`md.cli_batch`).

    ``max_forces_std_eV_per_A`` (eV/Å, committee force fields only; default
    ``config.max_forces_std_eV_per_A``): stop with a diagnosis when the committee's largest
    per-atom force spread exceeds it (see :class:`~md.stability.StabilityLimits`)."""
    if max_forces_std_eV_per_A is None:
        max_forces_std_eV_per_A = config.max_forces_std_eV_per_A
    elif config.max_forces_std_eV_per_A != max_forces_std_eV_per_A:
        config = dataclasses.replace(config, max_forces_std_eV_per_A=float(max_forces_std_eV_per_A))
    if forcefield is None:
        if config.forcefield is None:
            raise ConfigError("no force field: pass a potential (--potential) or a built-in `forcefield` in the config")
        forcefield = builtin_forcefield(config.forcefield)
    check_is_forcefield(forcefield)
    if is_batch(config):  # several structures or replicas: one batched run (md/cli_batch.py)
        from md.cli_batch import run_batch_from_config

        return run_batch_from_config(config, forcefield)
    device = _device(config.device)
    dtype = getattr(torch, config.dtype)
    integrator = make_integrator(config.ensemble, config.timestep_fs, config.temperature_K,
                                 config.friction_per_fs, config.tau_fs, config.chain_length, **npt_settings(config))
    limits = StabilityLimits(config.max_displacement_A, config.max_energy_change_eV_per_atom,
                             max_forces_std_eV_per_A=max_forces_std_eV_per_A)
    paths = _output_paths(config)
    reporters = _reporters(config, paths)
    if config.restart is not None:
        checkpoint = _checkpoint_path(config.restart)
        read_checkpoint(checkpoint)  # validates before anything is written
        state = load_checkpoint(checkpoint, integrator, reporters, device)
        if state.step > config.steps:
            raise ConfigError(f"the checkpoint is at step {state.step}, beyond steps={config.steps}; "
                              "give the total number of steps the trajectory should reach")
    else:
        atoms = _read_structure(config.structure)
        if os.path.exists(paths["checkpoint"]) and not config.overwrite:
            raise ConfigError(f"{config.output_dir!r} already holds a run (checkpoint.pt); choose another --output, "
                              "continue it with --restart, or set overwrite")
        temperature = config.temperature_K if config.init_temperature_K is None else config.init_temperature_K
        state = initial_state(atoms, forcefield, temperature, config.seed, fixed=config.fixed_atoms or None,
                              skin_A=config.skin_A, dtype=dtype, device=device)
        state = integrator.init(state)
    os.makedirs(config.output_dir, exist_ok=True)
    _write_config(config, paths["config"])
    n_steps = config.steps - state.step
    state = run(state, forcefield, integrator, n_steps, reporters, limits)
    monitor, progress = reporters[0], reporters[-1]
    return RunResult(state, monitor.last_report, config.output_dir,
                     {k: v for k, v in paths.items() if os.path.exists(v)}, n_steps,
                     progress.ns_per_day, progress.atom_steps_per_s)


def _write_config(config: MDConfig, path: str) -> None:
    import yaml

    with atomic_open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)


def run_from_args(forcefield=None, structure_path: Optional[str] = None, ensemble: Optional[str] = None,
                  temperature_K: Optional[float] = None, timestep_fs: Optional[float] = None,
                  steps: Optional[int] = None, output_dir: Optional[str] = None, restart: Optional[str] = None,
                  seed: Optional[int] = None, device: Optional[str] = None, dtype: Optional[str] = None,
                  config_path: Optional[str] = None, options: Optional[Mapping[str, Any]] = None,
                  max_forces_std_eV_per_A: Optional[float] = None) -> RunResult:
    """Entry point of the ``mlip md`` subcommand.

    Settings come from the YAML file ``config_path`` (if any), then ``options`` (any
    :class:`~md.config.MDConfig` field), then the explicit arguments that are not None —
    later sources win. Units: K, fs, Å.

    Args:
        forcefield: a loaded potential (or any md force field); None to use the config's
            built-in ``forcefield``.
        structure_path: structure file (``--structure``), or a list of them (one batch run).
        ensemble: ``nve|langevin|bussi|nose-hoover|npt`` (``--ensemble``; npt settings such as
            ``pressure_GPa`` go in ``options``).
        temperature_K, timestep_fs, steps, output_dir, restart, seed, device, dtype: as the
            ``--temperature-K``, ``--timestep-fs``, ``--steps``, ``--output``, ``--restart``,
            ``--seed``, ``--device``, ``--dtype`` flags.
        config_path: YAML config file.
        options: further MDConfig fields (e.g. ``{"trajectory_formats": ["extxyz", "dcd"]}``).
        max_forces_std_eV_per_A: committee force-spread limit, eV/Å (``--max-forces-std``);
            see :func:`run_from_config`.
    """
    values: Dict[str, Any] = {}
    if config_path is not None:
        values = load_config_values(config_path)
    elif restart is not None and os.path.isfile(saved_config_path(restart) or ""):
        values = _saved_values(restart)  # continue with the run's own settings; flags win
    values.update(dict(options or {}))
    flags = {"structure": structure_path, "ensemble": ensemble, "temperature_K": temperature_K,
             "timestep_fs": timestep_fs, "steps": steps, "output_dir": output_dir, "restart": restart,
             "seed": seed, "device": device, "dtype": dtype}
    values.update({k: v for k, v in flags.items() if v is not None})
    restart_dir = values.get("restart")
    if restart_dir is not None and os.path.isdir(restart_dir) and "output_dir" not in values:
        values["output_dir"] = restart_dir  # continue a run in its own directory
    return run_from_config(config_from_mapping(values), forcefield, max_forces_std_eV_per_A)


def saved_config_path(restart: str) -> Optional[str]:
    """``config.yaml`` written by the run that ``restart`` (a directory or its checkpoint) continues."""
    folder = restart if os.path.isdir(restart) else os.path.dirname(os.path.abspath(restart))
    path = os.path.join(folder, "config.yaml")
    return path if os.path.isfile(path) else None


def _saved_values(restart: str) -> Dict[str, Any]:
    values = load_config_values(saved_config_path(restart))
    for key in ("restart", "overwrite"):
        values.pop(key, None)
    return values


def add_arguments(parser) -> None:
    """Add the ``mlip md`` flags to an argparse (sub)parser (all default to None so a YAML
    ``--config`` can supply them)."""
    parser.add_argument("--potential", help="saved mlip potential file")
    parser.add_argument("--structure", nargs="+", help="structure file (any format ASE reads); several files run "
                                                       "as one batch, outputs in OUTPUT/system_000 ...")
    parser.add_argument("--replicas", type=int, help="copies of each structure run as one batch (default 1); "
                                                     "each gets its own seed, derived from --seed")
    parser.add_argument("--ensemble", help="nve | langevin | bussi | nose-hoover | npt (default nve)")
    parser.add_argument("--temperature-K", dest="temperature_K", type=float, nargs="+",
                        help="temperature, K (default 300); in a batch one for all or one per system")
    parser.add_argument("--timestep-fs", dest="timestep_fs", type=float, help="time step, fs (default 1)")
    parser.add_argument("--pressure-GPa", dest="pressure_GPa", type=float, nargs="+",
                        help="npt: target pressure, GPa (1 bar = 0.0001 GPa); in a batch one for all or one per system")
    parser.add_argument("--barostat", help="npt: scr (stochastic cell rescaling, default) or mtk "
                                           "(Martyna-Tobias-Klein + Nose-Hoover chains)")
    parser.add_argument("--barostat-tau-fs", dest="barostat_tau_fs", type=float,
                        help="npt: barostat relaxation time (scr) or period (mtk), fs (default 1000)")
    parser.add_argument("--cell-flexibility", dest="cell_flexibility",
                        help="npt: isotropic (default), anisotropic (x, y, z lengths) or triclinic (and angles)")
    parser.add_argument("--compressibility-per-GPa", dest="compressibility_per_GPa", type=float,
                        help="npt, scr: compressibility the barostat assumes, 1/GPa (default 0.01; ~0.45 for water); "
                             "sets how fast the volume relaxes, not the ensemble")
    parser.add_argument("--steps", type=int, help="total number of steps of the trajectory (default 1000)")
    parser.add_argument("--output", dest="output_dir", help="output directory (default md_output)")
    parser.add_argument("--restart", help="checkpoint file or output directory to continue from")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--backend", help="kernels of the potential: auto (default: native when the op "
                                          "library is built, else reference), native or reference")
    parser.add_argument("--dtype", help="float64 (default) or float32: precision of the MD state")
    parser.add_argument("--fidelity", help="multi-fidelity potentials: the level of theory to run, e.g. b3lyp "
                                           "(default: the potential's highest)")
    parser.add_argument("--config", dest="config_path", help="YAML file with any md settings (flags win)")
    parser.add_argument("--max-forces-std", dest="max_forces_std_eV_per_A", type=float,
                        help="committee potentials: stop when the largest per-atom force spread exceeds this, "
                             "eV/Å (checked every 10 steps; not saved in config.yaml)")


def main_from_namespace(args, load_potential=None) -> int:
    """Run ``mlip md`` from parsed flags; print the drift diagnosis and where the files are.

    Args:
        args: namespace from a parser set up by :func:`add_arguments`.
        load_potential: ``f(path, device=..., backend=...[, fidelity=...]) -> force field`` that loads
            ``--potential`` (the CLI passes :func:`mlip.potential.load_potential`; md itself
            never imports model code).
    """
    forcefield = None
    if args.device:
        _device(args.device)  # a clear error for a missing GPU before any potential is moved there
    potential = getattr(args, "potential", None)
    fidelity = getattr(args, "fidelity", None)
    if potential is None and args.restart is not None and getattr(args, "config_path", None) is None:
        saved = saved_config_path(args.restart)
        values = load_config_values(saved) if saved else {}
        potential = values.get("potential")  # continue with the same one, at the same fidelity
        fidelity = fidelity or values.get("fidelity")
    if fidelity and not potential:
        raise ConfigError(f"--fidelity {fidelity} picks a level of theory of a multi-fidelity potential; give it with --potential")
    if potential:
        if load_potential is None:
            raise ConfigError("this entry point was called without a potential loader; call "
                              "main_from_namespace(args, load_potential=mlip.potential.load_potential)")
        # a file or a shipped potential's name: the loader decides and names what is wrong
        # a multi-fidelity potential evaluates the fidelity it is loaded at (md sees one force field)
        forcefield = load_potential(potential, device=args.device or "cpu", backend=getattr(args, "backend", None) or "auto",
                                    **({"fidelity": fidelity} if fidelity else {}))
        print(f"md: potential {potential}: {forcefield!r}; neighbour list {resolve_neighbor_backend('auto')}")
    options = {"potential": str(potential), **({"fidelity": fidelity} if fidelity else {})} if potential else {}
    options.update({k: getattr(args, k) for k in NPT_FLAGS if getattr(args, k, None) is not None})
    if getattr(args, "replicas", None) is not None:
        options["replicas"] = args.replicas
    result = run_from_args(forcefield, args.structure, args.ensemble, args.temperature_K, args.timestep_fs,
                           args.steps, args.output_dir, args.restart, args.seed, args.device, args.dtype,
                           getattr(args, "config_path", None), options=options or None,
                           max_forces_std_eV_per_A=getattr(args, "max_forces_std_eV_per_A", None))
    print(f"md: {result.n_steps_run} steps ({result.ns_per_day:.3g} ns/day, "
          f"{result.atom_steps_per_s:.3g} atom·steps/s); outputs in {result.output_dir}")
    print(f"energy: {result.report.diagnosis}")
    return 0
