"""Retraining: each round's committee from all frames labelled so far.

Each round is one ordinary ``mlip train`` run of a committee (``round_R/member_k/``, each
member resumable from its checkpoint), so a killed loop resumes training where it stopped.
Round 0 trains from scratch with the template's epochs, or fine-tunes every member from the
template's ``training.init_from`` (a pretrained potential); later rounds fine-tune member k
from its previous version (``retrain: finetune``, ``finetune_epochs``) or train anew
(``scratch``). Member seeds, shuffling and ``training.bootstrap`` follow ``mlip train``'s
committee rules. The committee is calibrated on the validation set when one is given
(:func:`calibrate_committee`) and saved as ``round_R/committee.pt``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional

from mlip.errors import ConfigError
from mlip.learn.config import LABEL_KEYS, LearnConfig


def load_template(cfg: LearnConfig) -> Dict[str, Any]:
    """The model and training sections of ``train.config`` (a YAML mapping)."""
    import yaml

    path = cfg.resolve(cfg.train.config)
    try:
        with open(path) as fh:
            template = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"train.config {path!r} not found: give an mlip train YAML with model and training sections") from None
    if not isinstance(template, dict) or "model" not in template:
        raise ConfigError(f"train.config {path!r} must be an mlip train config with a model section")
    return template


def round_config(cfg: LearnConfig, template: Dict[str, Any], round_dir: Path, labelled: str,
                 validation: Optional[str], previous: Optional[Path]) -> Dict[str, Any]:
    """The ``mlip train`` config (as a dict) of one round's committee: the template's model and
    training, ``committee_size`` members, the loop's labelled frames; fine-tuned from
    ``previous`` (the last round's committee, member k from member k) when given, else from the
    template's own ``init_from`` (a pretrained start) or from scratch."""
    training = copy.deepcopy(template.get("training") or {})
    training.update(committee_size=cfg.train.committee_size, seed=cfg.seed, progress=False)
    model = copy.deepcopy(template["model"])
    if previous is not None:
        training["init_from"] = str(previous)
        if cfg.train.finetune_epochs is not None:
            training["epochs"] = cfg.train.finetune_epochs
    if training.get("init_from"):
        training["init_from"] = cfg.resolve(training["init_from"])
        model = {}
    data: Dict[str, Any] = {"train": labelled, "keys": dict(LABEL_KEYS), "n_test": 0, "split_seed": cfg.seed}
    if validation is not None:
        data.update(valid=validation, n_valid=0)
    else:
        data.update(n_valid=0.1)
    return {"data": data, "model": model, "training": training, "output": str(round_dir)}


def train_committee(cfg: LearnConfig, template: Dict[str, Any], round_index: int, out: Path, labelled: str,
                    validation: Optional[str], reuse_previous: bool = False) -> Path:
    """Train (or resume) the committee of round ``round_index``; returns ``committee.pt``. With
    ``reuse_previous`` (no frame was labelled since the last round) the previous round's
    committee is carried over unchanged instead."""
    from mlip.potential import load_potential
    from mlip.train import TrainConfig, train

    round_dir = out / f"round_{round_index}"
    committee_path = round_dir / "committee.pt"
    if committee_path.exists():
        return committee_path
    round_dir.mkdir(parents=True, exist_ok=True)
    previous = out / f"round_{round_index - 1}" / "committee.pt" if round_index > 0 else None
    if reuse_previous:
        _copy(previous, committee_path)
        return committee_path
    if cfg.train.retrain == "scratch":
        previous = None
    best = train(TrainConfig.from_dict(round_config(cfg, template, round_dir, labelled, validation, previous)), resume=True)
    committee = load_potential(best)
    if validation is not None:
        committee = calibrate_committee(committee, validation)
    committee.save(committee_path)
    return committee_path


def _copy(source: Path, target: Path) -> None:
    import shutil

    from mlip.atomic_io import atomic_path

    with atomic_path(str(target), suffix=".pt") as tmp:
        shutil.copyfile(source, tmp)


def calibrate_committee(committee, validation: str):
    """The committee with its σ scale fitted so that the predicted force σ matches the observed
    force error on the labelled file ``validation`` (:func:`mlip.train.calibration.calibrate`)."""
    from mlip.data import DataKeys, build_graphs, read_frames
    from mlip.train.calibration import calibrate

    calibrate(committee, build_graphs(read_frames(validation, DataKeys(**LABEL_KEYS)), committee.cutoff))
    return committee
