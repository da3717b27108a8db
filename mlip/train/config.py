"""Strict training configuration (YAML): unknown keys are errors naming the key.

Example ``config.yaml``::

    data:
      train: ethanol.extxyz        # any ASE-readable file
      n_valid: 0.1                 # count or fraction
      n_test: 0.1
      split_seed: 0
      keys: {energy: dft_energy, forces: dft_forces, energy_unit: eV}
    model: {cutoff: 5.0, l_max: 2, channels: 32, n_layers: 4}   # elements inferred from data
    training:
      epochs: 100
      batch_size: 4
      lr: 0.005
      loss: {energy_weight: 1.0, forces_weight: 10.0, kind: mse}
      dtype: float32
      seed: 0
    output: runs/ethanol
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from mlip.errors import ConfigError
from mlip.train.loss import LossConfig


def _strict(cls, d: Any, section: str):
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"{section}: expected a mapping, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{section}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
    try:
        return cls(**d)
    except TypeError as exc:
        raise ConfigError(f"{section}: {exc}") from exc


@dataclass(frozen=True)
class DataConfig:
    """Where the data is, how to split it, and which keys hold the labels."""

    train: str = ""
    index: str = ":"  # ASE index of the frames of ``train`` to use, e.g. ":400" (the first 400)
    valid: Optional[str] = None
    test: Optional[str] = None
    n_valid: Union[int, float] = 0.1
    n_test: Union[int, float] = 0.0
    split_seed: int = 0
    n_train: Optional[int] = None  # use only the first n_train of the shuffled training frames
    keys: Dict[str, Any] = field(default_factory=dict)
    # multi-fidelity data: {name: {label keys, loss_weight, n_train, ...}}, lowest first (mlip.data.fidelities)
    fidelities: Optional[Dict[str, Any]] = None
    # repeat scarcer fidelities' frames: true (= 1.0) so each fills about the most numerous one's
    # share of an epoch, a number in (0, 1] for that fraction of it, false (= 0) for no repeats
    balance_fidelities: Union[bool, float] = True

    def __post_init__(self):
        if not self.train:
            raise ConfigError("data.train: give the path of the training data file")
        share = self.balance_fidelities
        if not isinstance(share, bool) and not (isinstance(share, (int, float)) and 0.0 <= float(share) <= 1.0):
            raise ConfigError(f"data.balance_fidelities must be true, false or a number in [0, 1] (the share of the most "
                              f"numerous fidelity's frames each scarcer fidelity is repeated up to), got {share!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser, schedule and run control. Times in seconds, learning rate dimensionless."""

    epochs: int = 100
    batch_size: int = 4
    lr: float = 0.005
    weight_decay: float = 0.0
    ema_decay: float = 0.99
    scheduler: str = "plateau"  # plateau | cosine | none
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    min_lr: float = 1e-6
    clip_grad_norm: Optional[float] = 10.0
    early_stopping_patience: Optional[int] = 50
    max_time_s: Optional[float] = None
    loss: Dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    device: str = "cpu"
    backend: str = "auto"  # kernels: auto | native | reference (mlip.backends); not saved with the model
    seed: int = 0
    checkpoint_every: int = 1
    committee_size: int = 1
    bootstrap: bool = False
    init_from: Optional[str] = None
    freeze: Tuple[str, ...] = ()
    progress: bool = True
    properties: List[Dict[str, Any]] = field(default_factory=list)  # property targets (mlip.train.properties)

    def __post_init__(self):
        object.__setattr__(self, "freeze", tuple(self.freeze or ()))
        if self.scheduler not in ("plateau", "cosine", "none"):
            raise ConfigError(f"training.scheduler must be plateau, cosine or none, got {self.scheduler!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"training.dtype must be float32 or float64, got {self.dtype!r}")
        if self.backend not in ("auto", "native", "reference"):
            raise ConfigError(f"training.backend must be auto, native or reference, got {self.backend!r}")
        for name in ("epochs", "batch_size", "committee_size", "checkpoint_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"training.{name} must be an integer >= 1, got {v!r}")
        if not (0.0 <= float(self.ema_decay) < 1.0):
            raise ConfigError(f"training.ema_decay must be in [0, 1), got {self.ema_decay}")
        if float(self.lr) <= 0:
            raise ConfigError(f"training.lr must be > 0, got {self.lr}")
        self.property_targets  # validate early: kinds, units, values, structure files

    @property
    def property_targets(self):
        """The parsed ``properties`` list (:func:`mlip.train.properties.parse_property_targets`)."""
        from mlip.train.properties import parse_property_targets

        return parse_property_targets(self.properties)

    @property
    def loss_config(self) -> LossConfig:
        return _strict(LossConfig, self.loss, "training.loss")


@dataclass(frozen=True)
class TrainConfig:
    """The whole ``mlip train`` configuration: data, model, training, output directory."""

    data: DataConfig
    model: Dict[str, Any]
    training: TrainingConfig
    output: str

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ConfigError("the training config must be a mapping with sections data, model, training, output")
        unknown = sorted(set(d) - {"data", "model", "training", "output"})
        if unknown:
            raise ConfigError(f"unknown top-level key(s) {unknown}; valid: ['data', 'model', 'training', 'output']")
        if "output" not in d:
            raise ConfigError("output: give the output directory of the run")
        model = d.get("model") or {}
        if not isinstance(model, dict):
            raise ConfigError("model: expected a mapping")
        training = _strict(TrainingConfig, d.get("training"), "training")
        training.loss_config  # validate early
        return cls(_strict(DataConfig, d.get("data"), "data"), dict(model), training, str(d["output"]))

    @classmethod
    def from_yaml(cls, path: str) -> "TrainConfig":
        import yaml

        try:
            with open(path, encoding="utf-8") as f:
                d = yaml.safe_load(f)
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such config file") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_dict(d)

    def to_dict(self) -> Dict[str, Any]:
        """The config as plain YAML-safe data (numpy scalars and tuples from Python-built configs become
        floats, ints and lists)."""
        d = dataclasses.asdict(self)
        d["training"]["freeze"] = list(self.training.freeze)
        return _plain(d)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return value.item()  # a numpy (or torch) scalar
    return value
