"""Strict configuration of ``mlip learn`` (YAML): unknown keys are errors naming the key.

Example ``learn.yaml`` (units in the names: K, GPa, fs, Å, eV/Å)::

    output: runs/learn_cuau
    seed: 0
    oracle: {calculator: "ase.calculators.emt:EMT"}   # or {script: "my_oracle.py:label"}
    start:
      structures: [start_structures.extxyz]   # every frame is a start structure
      rattle_per_structure: 2                 # initial labels: rattled copies of each start
      rattle_A: 0.05
    validation: {file: valid.extxyz, keys: {energy: REF_energy, forces: REF_forces, stress: REF_stress}}
    train:
      config: train_template.yaml             # an mlip train config; the loop sets data and output
      committee_size: 4
      retrain: finetune                       # finetune (from last round's members) | scratch
      finetune_epochs: 30
      explored_weight: 1.0                    # loss weight of the loop's own labels (initial data: 1)
    explore:
      timestep_fs: 2.0
      sample_every_steps: 20
      conditions:
        - {structure: 0, temperature_K: 600, steps: 1000}
        - {structure: 1, temperature_K: 1200, ensemble: npt, pressure_GPa: 0.0, substitute: {from: Cu, to: Au, fraction: 0.2}}
    select: {threshold_eV_per_A: 0.05, max_per_round: 10, strategy: uncertainty}
    stop: {max_labels: 200, max_rounds: 10, quiet_time_fs: 20000}
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from mlip.errors import ConfigError
from mlip.train.config import _strict  # one strict-section parser for every YAML config

#: Keys under which the loop stores the oracle's labels in its extxyz files.
LABEL_KEYS = {"energy": "REF_energy", "forces": "REF_forces", "stress": "REF_stress"}
STRATEGIES = ("uncertainty", "random")
CONDITION_KEYS = {"structure", "temperature_K", "steps", "ensemble", "pressure_GPa", "repeat", "substitute",
                  "vacancies", "strain", "shear", "adatoms", "name"}


def _positive(section: str, name: str, value: Any, integer: bool = False, zero_ok: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0 or (value == 0 and not zero_ok):
        need = "an integer" if integer else "a number"
        raise ConfigError(f"{section}.{name} must be {need} {'>= 0' if zero_ok else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class OracleConfig:
    """The labelling method: ``calculator`` ("module:Name", an ASE calculator class or factory,
    called with ``kwargs``) or ``script`` ("file.py:function", called as ``function(atoms)`` and
    returning ``{"energy": eV, "forces": (n, 3) eV/Å, "stress": optional Voigt-6 eV/Å³}``)."""

    calculator: Optional[str] = None
    script: Optional[str] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if (self.calculator is None) == (self.script is None):
            raise ConfigError("oracle: give exactly one of calculator: 'module:Class' (an ASE calculator, e.g. "
                              "'ase.calculators.emt:EMT') or script: 'file.py:function'")
        spec = self.calculator or self.script
        if not isinstance(spec, str) or ":" not in spec:
            raise ConfigError(f"oracle: {spec!r} must have the form 'module:Name' or 'file.py:function'")


@dataclass(frozen=True)
class StartConfig:
    """Start structures (every frame of every file) and the initial labels: an optional
    labelled file plus ``rattle_per_structure`` copies of each start, each atom displaced by a
    Gaussian of ``rattle_A`` Å per component."""

    structures: List[str] = field(default_factory=list)
    initial_data: Optional[str] = None
    rattle_per_structure: int = 2
    rattle_A: float = 0.05

    def __post_init__(self):
        if not self.structures or not isinstance(self.structures, list):
            raise ConfigError("start.structures: give a list of structure files (extxyz, cif, ...)")
        _positive("start", "rattle_per_structure", self.rattle_per_structure, integer=True, zero_ok=True)
        _positive("start", "rattle_A", self.rattle_A, zero_ok=True)


@dataclass(frozen=True)
class LabelledSetConfig:
    """A fixed labelled file (validation or test) and the keys of its labels."""

    file: Optional[str] = None
    keys: Dict[str, Any] = field(default_factory=lambda: dict(LABEL_KEYS))


@dataclass(frozen=True)
class RetrainConfig:
    """How each round's committee is trained: ``config`` is an mlip train YAML whose model and
    training sections are used (the loop sets data, output, seed, committee and init_from).
    Round 0 trains from scratch for the template's epochs; later rounds fine-tune each member
    from its previous version for ``finetune_epochs`` (``retrain: finetune``) or train anew.
    ``explored_weight`` multiplies the loss weight of the frames the loop itself labelled
    (``source: explore``) against the start's frames (weight 1): when a large initial set is
    extended by a few labels per round, a few fine-tuning epochs otherwise barely see them."""

    config: str = ""
    committee_size: int = 4
    retrain: str = "finetune"
    finetune_epochs: Optional[int] = None
    explored_weight: float = 1.0

    def __post_init__(self):
        if not self.config:
            raise ConfigError("train.config: give the path of an mlip train YAML (its model and training sections)")
        _positive("train", "committee_size", self.committee_size, integer=True)
        if self.committee_size < 2:
            raise ConfigError("train.committee_size must be >= 2: the loop's uncertainty is the committee spread")
        if self.retrain not in ("finetune", "scratch"):
            raise ConfigError(f"train.retrain must be finetune or scratch, got {self.retrain!r}")
        if self.finetune_epochs is not None:
            _positive("train", "finetune_epochs", self.finetune_epochs, integer=True)
        _positive("train", "explored_weight", self.explored_weight)


@dataclass(frozen=True)
class ExploreConfig:
    """MD with the current committee: every condition every round, ``timestep_fs`` fs, a frame
    sampled every ``sample_every_steps``; a run stops early (its frames kept) when the force
    spread passes ``stop_sigma_eV_per_A`` (default 10× the selection threshold)."""

    conditions: List[Dict[str, Any]] = field(default_factory=list)
    timestep_fs: float = 2.0
    sample_every_steps: int = 20
    ensemble: str = "langevin"
    friction_per_fs: float = 0.01
    barostat_tau_fs: float = 500.0
    stop_sigma_eV_per_A: Optional[float] = None

    def __post_init__(self):
        if not self.conditions or not isinstance(self.conditions, list):
            raise ConfigError("explore.conditions: give a list of {structure: INDEX, temperature_K: T, steps: N, ...}")
        for k, cond in enumerate(self.conditions):
            if not isinstance(cond, dict):
                raise ConfigError(f"explore.conditions[{k}]: expected a mapping, got {cond!r}")
            unknown = sorted(set(cond) - CONDITION_KEYS)
            if unknown:
                raise ConfigError(f"explore.conditions[{k}]: unknown key(s) {unknown}; valid keys: {sorted(CONDITION_KEYS)}")
            for name in ("temperature_K", "steps"):
                if name not in cond:
                    raise ConfigError(f"explore.conditions[{k}]: {name} is required")
            _positive(f"explore.conditions[{k}]", "temperature_K", cond["temperature_K"])
            _positive(f"explore.conditions[{k}]", "steps", cond["steps"], integer=True)
        _positive("explore", "timestep_fs", self.timestep_fs)
        _positive("explore", "sample_every_steps", self.sample_every_steps, integer=True)


@dataclass(frozen=True)
class SelectConfig:
    """Frames whose largest per-atom force σ (calibrated committee spread, eV/Å: the definition
    ``mlip md --max-forces-std`` uses) passes ``threshold_eV_per_A`` are candidates; up to
    ``max_per_round`` are kept by farthest-point sampling on structure descriptors. With
    ``max_sigma_eV_per_A`` (an upper trust level, as in DP-GEN) frames above it are not labelled:
    they are usually the end of an MD run that has already gone unphysical. With
    ``min_distance_A`` frames with two atoms closer than that (Å) are not labelled either: a
    collapsed structure's huge reference forces can dominate a force loss.
    ``strategy: random`` instead draws ``max_per_round`` frames uniformly from all sampled ones
    (the baseline of a label-efficiency comparison)."""

    threshold_eV_per_A: float = 0.05
    max_per_round: int = 10
    strategy: str = "uncertainty"
    descriptor_cutoff_A: float = 5.0
    max_sigma_eV_per_A: Optional[float] = None
    min_distance_A: Optional[float] = None

    def __post_init__(self):
        _positive("select", "threshold_eV_per_A", self.threshold_eV_per_A)
        if self.min_distance_A is not None:
            _positive("select", "min_distance_A", self.min_distance_A)
        if self.max_sigma_eV_per_A is not None:
            _positive("select", "max_sigma_eV_per_A", self.max_sigma_eV_per_A)
            if self.max_sigma_eV_per_A <= self.threshold_eV_per_A:
                raise ConfigError(f"select.max_sigma_eV_per_A ({self.max_sigma_eV_per_A}) must be above "
                                  f"threshold_eV_per_A ({self.threshold_eV_per_A})")
        _positive("select", "max_per_round", self.max_per_round, integer=True)
        _positive("select", "descriptor_cutoff_A", self.descriptor_cutoff_A)
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"select.strategy must be one of {STRATEGIES}, got {self.strategy!r}")


@dataclass(frozen=True)
class StopConfig:
    """Stop after ``max_rounds`` rounds, when ``max_labels`` labels are spent, or when
    exploration has stayed under the threshold for ``quiet_time_fs`` fs of simulated time."""

    max_labels: int = 200
    max_rounds: int = 10
    quiet_time_fs: float = 20000.0

    def __post_init__(self):
        _positive("stop", "max_labels", self.max_labels, integer=True)
        _positive("stop", "max_rounds", self.max_rounds, integer=True)
        _positive("stop", "quiet_time_fs", self.quiet_time_fs)


@dataclass(frozen=True)
class LearnConfig:
    """The whole ``mlip learn`` configuration (see the module docstring)."""

    output: str
    oracle: OracleConfig
    start: StartConfig
    train: RetrainConfig
    explore: ExploreConfig
    select: SelectConfig = SelectConfig()
    stop: StopConfig = StopConfig()
    validation: LabelledSetConfig = LabelledSetConfig()
    test: LabelledSetConfig = LabelledSetConfig()
    seed: int = 0
    base_dir: str = "."

    @classmethod
    def from_dict(cls, values: Dict[str, Any], base_dir: str = ".") -> "LearnConfig":
        if not isinstance(values, dict):
            raise ConfigError("the learn config must be a mapping with sections output, oracle, start, train, explore, ...")
        sections = {"oracle": OracleConfig, "start": StartConfig, "train": RetrainConfig, "explore": ExploreConfig,
                    "select": SelectConfig, "stop": StopConfig, "validation": LabelledSetConfig, "test": LabelledSetConfig}
        unknown = sorted(set(values) - set(sections) - {"output", "seed"})
        if unknown:
            raise ConfigError(f"unknown section(s) {unknown}; valid: {sorted(set(sections) | {'output', 'seed'})}")
        for required in ("output", "oracle", "start", "train", "explore"):
            if required not in values:
                raise ConfigError(f"the learn config needs a '{required}' section")
        parsed = {name: _strict(kind, values.get(name), name) for name, kind in sections.items() if name in values}
        seed = values.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        return cls(output=str(values["output"]), seed=seed, base_dir=base_dir, **parsed)

    @classmethod
    def from_yaml(cls, path: str) -> "LearnConfig":
        import yaml

        try:
            with open(path) as fh:
                values = yaml.safe_load(fh)
        except FileNotFoundError:
            raise ConfigError(f"learn config {path!r} not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"learn config {path!r} is not valid YAML: {exc}") from None
        return cls.from_dict(values, base_dir=os.path.dirname(os.path.abspath(path)))

    def to_dict(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("base_dir")
        return out

    def resolve(self, path: Optional[str]) -> Optional[str]:
        """A path of the config, relative to the config file's folder unless absolute or found as given."""
        if path is None or os.path.isabs(path) or os.path.exists(path):
            return path
        candidate = os.path.join(self.base_dir, path)
        return candidate if os.path.exists(candidate) else path
