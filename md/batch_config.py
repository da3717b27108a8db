"""The batch settings of an ``mlip md`` run: several structures, replicas, and one temperature
and seed per system.

A run holds ``n_structures × replicas`` systems, structure-major: system ``k`` is replica
``k % replicas`` of structure ``k // replicas``. ``temperature_K`` is one value for all
systems or one per system (K), and so is ``pressure_GPa`` for ``npt`` (GPa: a pressure
ladder, e.g. ``--replicas 3 --pressure-GPa 0 1 2``). ``seeds`` (one per system) are derived from ``seed`` when not
given — deterministically, by :class:`numpy.random.SeedSequence` (``seed``).spawn, so replicas
of one run, and the runs of neighbouring seeds, draw independent streams — and written to the
run's config.yaml. A system of a batch follows the trajectory a one-structure run with its
structure, temperature and seed would follow.
"""
from __future__ import annotations

import math
from typing import List, NamedTuple, Optional

import numpy as np

from mlip.errors import ConfigError

from md.npt import check_npt_settings


class SystemSpec(NamedTuple):
    """One system of a batch run.

    Attributes:
        index: position in the batch.
        structure: its structure file (None when restarting without one).
        replica: which replica of that structure (0-based).
        temperature_K: its thermostat (and initial-velocity) temperature, K.
        seed: the seed of its random-number generator.
        pressure_GPa: its barostat's target pressure, GPa (None at constant volume).
    """

    index: int
    structure: Optional[str]
    replica: int
    temperature_K: float
    seed: int
    pressure_GPa: Optional[float] = None

    @property
    def name(self) -> str:
        """Its output subdirectory, e.g. ``system_003``."""
        return f"system_{self.index:03d}"


def n_structures(config) -> int:
    """Number of structure files of ``config`` (1 for a single file or none)."""
    return len(config.structure) if isinstance(config.structure, list) else 1


def n_systems(config) -> int:
    """Number of systems: structures × replicas."""
    return n_structures(config) * int(config.replicas)


def is_batch(config) -> bool:
    """True when the run holds more than one system."""
    return n_systems(config) > 1


def derived_seeds(seed: int, n: int) -> List[int]:
    """``n`` seeds drawn from ``SeedSequence(seed).spawn(n)`` (independent streams)."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(int(seed)).spawn(n)]


def system_specs(config) -> List[SystemSpec]:
    """Every system of ``config``, in batch order."""
    n = n_systems(config)
    structures = config.structure if isinstance(config.structure, list) else [config.structure]
    temperatures = config.temperature_K if isinstance(config.temperature_K, list) else [config.temperature_K] * n
    seeds = config.seeds if config.seeds is not None else derived_seeds(config.seed, n)
    pressures = config.pressure_GPa if isinstance(config.pressure_GPa, list) else [config.pressure_GPa] * n
    replicas = int(config.replicas)
    return [SystemSpec(k, structures[k // replicas], k % replicas, float(temperatures[k]), int(seeds[k]),
                       None if pressures[k] is None else float(pressures[k])) for k in range(n)]


def check_batch_fields(config) -> None:
    """Validate and normalise the batch fields of an ``MDConfig`` in place (a one-element list
    of structures or temperatures becomes a plain value, so a one-system config reads as
    before); ConfigError naming the mismatch and the fix."""
    replicas = config.replicas
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ConfigError(f"replicas must be an integer >= 1, got {replicas!r}")
    structure = config.structure
    if isinstance(structure, (list, tuple)):
        if not structure or not all(isinstance(s, str) and s for s in structure):
            raise ConfigError(f"structure must be a file name or a list of file names, got {structure!r}")
        _set(config, "structure", structure[0] if len(structure) == 1 else list(structure))
    temperature = config.temperature_K
    if isinstance(temperature, (list, tuple)):
        if not temperature:
            raise ConfigError("temperature_K is an empty list; give one temperature (K) or one per system")
        positive = config.ensemble != "nve"
        values = [_temperature(t, positive) for t in temperature]
        _set(config, "temperature_K", values[0] if len(values) == 1 else values)
    pressure = config.pressure_GPa
    if isinstance(pressure, (list, tuple)):
        if not pressure:
            raise ConfigError("pressure_GPa is an empty list; give one pressure (GPa) or one per system")
        values = [check_npt_settings(config.ensemble, p) for p in pressure]
        _set(config, "pressure_GPa", values[0] if len(values) == 1 else values)
    n = n_systems(config)
    what = f"{n} system{'s' if n != 1 else ''} ({n_structures(config)} structure(s) × {replicas} replica(s))"
    if isinstance(config.temperature_K, list) and len(config.temperature_K) != n:
        raise ConfigError(f"got {len(config.temperature_K)} temperatures for {what}; give one temperature for all "
                          f"systems or exactly one per system (e.g. --replicas {len(config.temperature_K)})")
    if isinstance(config.pressure_GPa, list) and len(config.pressure_GPa) != n:
        raise ConfigError(f"got {len(config.pressure_GPa)} pressures for {what}; give one pressure (GPa) for all "
                          f"systems or exactly one per system (e.g. --replicas {len(config.pressure_GPa)})")
    if config.seeds is not None:
        seeds = config.seeds
        if not isinstance(seeds, (list, tuple)) or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError(f"seeds must be a list of integers >= 0 (one per system), got {seeds!r}")
        if len(seeds) != n:
            raise ConfigError(f"got {len(seeds)} seeds for {what}; give one per system or leave seeds out "
                              "(they are then derived from seed)")
        _set(config, "seeds", [int(s) for s in seeds])


def _temperature(value, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"temperature_K must be finite numbers (K), got {value!r}")
    if (positive and not value > 0) or value < 0:
        raise ConfigError(f"temperature_K must be {'> 0' if positive else '>= 0'} K, got {value}")
    return float(value)


def _set(config, name: str, value) -> None:
    object.__setattr__(config, name, value)
