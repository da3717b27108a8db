"""The configuration of an ``mlip md`` run: a typed dataclass, loadable from YAML.

Unknown keys are errors (with a suggestion), never silently ignored. Every dimensional
field carries its unit in its name.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

from mlip.errors import ConfigError

from md.batch_config import check_batch_fields
from md.cell_flexibility import canonical_flexibility
from md.ensembles import canonical_ensemble
from md.npt import canonical_barostat, check_npt_settings
from md.shadow import check_order

TRAJECTORY_FORMATS = ("extxyz", "traj", "dcd", "xtc")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class MDConfig:
    """Everything ``mlip md`` needs besides the force field itself.

    Attributes:
        structure: structure file (any format ASE reads); not needed with ``restart``. A list
            of files runs them as one batch (see :mod:`md.batch_config`).
        ensemble: ``nve``, ``langevin``, ``bussi``, ``nose-hoover`` or ``npt``.
        temperature_K: thermostat temperature and (unless ``init_temperature_K``) the
            temperature of the initial Maxwell–Boltzmann velocities, K.
        init_temperature_K: temperature of the initial velocities, K (default temperature_K).
        timestep_fs: time step, fs.
        steps: total number of steps of the trajectory (a restart continues up to it).
        output_dir: directory for thermo.csv, trajectories, drift.json, energy.png, checkpoint.pt.
        restart: checkpoint file, or an output directory holding ``checkpoint.pt`` (through
            :func:`md.cli_run.run_from_args` a directory is also the output directory unless
            ``output_dir`` is given).
        seed: seed of the run's random-number generator.
        replicas: copies of each structure in one batch run (>= 1; see :mod:`md.batch_config`:
            outputs then go to ``output_dir/system_000`` …, one force call per step for all).
        seeds: one seed per system of a batch (derived from ``seed`` when None and written
            to the saved config).
        device: torch device (``cpu``, ``cuda``, ``cuda:1`` …).
        dtype: floating-point type of the MD state (``float64`` or ``float32``).
        friction_per_fs: Langevin friction, 1/fs.
        tau_fs: Bussi / Nosé–Hoover relaxation time, fs.
        chain_length: Nosé–Hoover chain length.
        pressure_GPa: target pressure of ``npt``, GPa (required there, None elsewhere); in a
            batch one value for all systems or one per system.
        barostat: ``scr`` (stochastic cell rescaling, default) or ``mtk`` (Martyna–Tobias–Klein).
        barostat_tau_fs: barostat relaxation time (scr) or period (mtk), fs.
        cell_flexibility: ``isotropic``, ``anisotropic`` or ``triclinic`` (which cell
            components the barostat changes).
        compressibility_per_GPa: compressibility the scr barostat assumes, 1/GPa (sets only
            how fast the volume relaxes: ~0.007 copper, ~0.45 water, ~0.3–2 argon).
        skin_A: Verlet skin of the neighbour list, Å.
        fixed_atoms: indices of atoms held in place.
        thermo_interval: steps between thermo.csv rows (and energy-monitor samples).
        trajectory_interval: steps between trajectory frames.
        trajectory_formats: any of ``extxyz``, ``traj``, ``dcd``, ``xtc``.
        checkpoint_interval: steps between checkpoints.
        shadow_order: order of the shadow-Hamiltonian estimate (2, 4, 6, 8).
        progress: progress bar on/off; None = only on a terminal.
        max_displacement_A: stability limit per step, Å.
        max_energy_change_eV_per_atom: stability limit on the conserved energy, eV/atom.
        overwrite: allow writing into an output directory that holds a previous run.
        forcefield: a built-in force field when no potential is given, e.g.
            ``{"lennard_jones": {"epsilon_eV": 0.0104, "sigma_A": 3.4, "cutoff_A": 8.5}}``.
        potential: path or shipped name of the potential the run uses. md never loads it (it
            only sees a force field); ``mlip md`` loads it and records it here, so that
            ``mlip md --restart DIR`` can continue with the same potential.
        fidelity: the level of theory a multi-fidelity potential evaluates (``--fidelity``),
            recorded like ``potential`` so a restart keeps it; None: the potential's default.
        max_forces_std_eV_per_A: committee force-spread limit, eV/Å (``--max-forces-std``), or
            None; see :class:`~md.stability.StabilityLimits`.
    """

    structure: Union[None, str, List[str]] = None
    ensemble: str = "nve"
    temperature_K: Union[float, List[float]] = 300.0
    init_temperature_K: Optional[float] = None
    timestep_fs: float = 1.0
    steps: int = 1000
    output_dir: str = "md_output"
    restart: Optional[str] = None
    seed: int = 0
    replicas: int = 1
    seeds: Optional[List[int]] = None
    device: str = "cpu"
    dtype: str = "float64"
    friction_per_fs: float = 0.01
    tau_fs: float = 100.0
    chain_length: int = 3
    pressure_GPa: Union[None, float, List[float]] = None
    barostat: str = "scr"
    barostat_tau_fs: float = 1000.0
    cell_flexibility: str = "isotropic"
    compressibility_per_GPa: float = 0.01
    skin_A: float = 0.5
    fixed_atoms: List[int] = field(default_factory=list)
    thermo_interval: int = 10
    trajectory_interval: int = 100
    trajectory_formats: List[str] = field(default_factory=lambda: ["extxyz"])
    checkpoint_interval: int = 1000
    shadow_order: int = 8
    progress: Optional[bool] = None
    max_displacement_A: float = 1.0
    max_energy_change_eV_per_atom: float = 1.0
    overwrite: bool = False
    forcefield: Optional[Dict[str, Any]] = None
    potential: Optional[str] = None
    fidelity: Optional[str] = None
    max_forces_std_eV_per_A: Optional[float] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ensemble", canonical_ensemble(self.ensemble))
        check_batch_fields(self)
        for name in ("temperature_K", "timestep_fs", "friction_per_fs", "tau_fs", "max_displacement_A",
                     "max_energy_change_eV_per_atom", "barostat_tau_fs", "compressibility_per_GPa"):
            if name != "temperature_K" or not isinstance(self.temperature_K, list):  # lists: check_batch_fields
                _number(self, name, positive=name != "temperature_K" or self.ensemble != "nve")
        if self.init_temperature_K is not None:
            _number(self, "init_temperature_K", positive=False)
        if self.max_forces_std_eV_per_A is not None:
            _number(self, "max_forces_std_eV_per_A", positive=True)
        if not isinstance(self.pressure_GPa, list):  # lists (a batch): check_batch_fields
            object.__setattr__(self, "pressure_GPa", check_npt_settings(self.ensemble, self.pressure_GPa))
        object.__setattr__(self, "barostat", canonical_barostat(self.barostat))
        object.__setattr__(self, "cell_flexibility", canonical_flexibility(self.cell_flexibility))
        _number(self, "skin_A", positive=False)
        for name in ("steps", "seed"):
            _integer(self, name, minimum=0)
        for name in ("thermo_interval", "trajectory_interval", "checkpoint_interval", "chain_length"):
            _integer(self, name, minimum=1)
        check_order(self.shadow_order)
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        formats = [str(f).lower().lstrip(".") for f in self.trajectory_formats]
        bad = [f for f in formats if f not in TRAJECTORY_FORMATS]
        if bad:
            raise ConfigError(f"unknown trajectory format(s) {bad}; choose from {TRAJECTORY_FORMATS}")
        object.__setattr__(self, "trajectory_formats", formats)
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in self.fixed_atoms):
            raise ConfigError(f"fixed_atoms must be a list of atom indices >= 0, got {self.fixed_atoms!r}")
        if self.structure is None and self.restart is None:
            raise ConfigError("give a structure file (--structure) or a checkpoint to restart from (--restart)")

    def to_dict(self) -> Dict[str, Any]:
        """Plain data (for writing the resolved config next to the outputs)."""
        return dataclasses.asdict(self)


def _number(config: MDConfig, name: str, positive: bool) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if (positive and not value > 0) or value < 0:
        raise ConfigError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value}")
    object.__setattr__(config, name, float(value))


def _integer(config: MDConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


FIELDS = tuple(f.name for f in dataclasses.fields(MDConfig))


def config_from_mapping(values: Mapping[str, Any], base: Optional[MDConfig] = None) -> MDConfig:
    """``base`` (default: all defaults) with ``values`` applied; unknown keys are errors."""
    unknown = [k for k in values if k not in FIELDS]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"unknown md config key(s): {', '.join(hints)}; valid keys: {', '.join(FIELDS)}")
    if base is None:
        return MDConfig(**dict(values))
    return dataclasses.replace(base, **dict(values))


def load_config(path: str) -> MDConfig:
    """Read a complete :class:`MDConfig` from a YAML file (a mapping of the field names)."""
    return config_from_mapping(load_config_values(path))


def load_config_values(path: str) -> Dict[str, Any]:
    """The settings of a YAML file as a dict, unknown keys rejected (may be partial: command-line
    flags complete it)."""
    import yaml

    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} does not exist")
    with open(path, encoding="utf-8") as handle:
        try:
            values = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path!r} is not valid YAML: {error}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path!r} must hold a mapping of md settings, got {type(values).__name__}")
    unknown = [k for k in values if k not in FIELDS]
    if unknown:
        config_from_mapping({k: values[k] for k in unknown})  # raises with suggestions
    return values
