"""Retraining: each round's committee from all frames labelled so far.

Every member is an ordinary ``mlip train`` run (one folder per member, resumable from its
checkpoint), so a killed loop resumes training where it stopped. Round 0 trains each member
from scratch with the template's epochs; later rounds fine-tune member k from its previous
version (``retrain: finetune``, ``finetune_epochs``) or train anew (``scratch``). The members
are then assembled into one committee potential, calibrated on the validation set when one is
given (:func:`calibrate_committee`), and saved as ``round_R/committee.pt``.
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


def member_config(cfg: LearnConfig, template: Dict[str, Any], round_dir: Path, member: int, labelled: str,
                  validation: Optional[str], previous: Optional[Path]) -> Dict[str, Any]:
    """The ``mlip train`` config (as a dict) of one member of one round."""
    training = copy.deepcopy(template.get("training") or {})
    training.update(committee_size=1, seed=cfg.seed + 1000 * member, progress=False)
    model = copy.deepcopy(template["model"])
    if previous is not None:
        training["init_from"] = str(previous)
        if cfg.train.finetune_epochs is not None:
            training["epochs"] = cfg.train.finetune_epochs
        model = {}
    data: Dict[str, Any] = {"train": labelled, "keys": dict(LABEL_KEYS), "n_test": 0, "split_seed": cfg.seed}
    if validation is not None:
        data.update(valid=validation, n_valid=0)
    else:
        data.update(n_valid=0.1)
    return {"data": data, "model": model, "training": training, "output": str(round_dir / f"member_{member}")}


def train_committee(cfg: LearnConfig, template: Dict[str, Any], round_index: int, out: Path, labelled: str,
                    validation: Optional[str], reuse_previous: bool = False) -> Path:
    """Train (or resume) every member of round ``round_index``; returns ``committee.pt``. With
    ``reuse_previous`` (no frame was labelled since the last round) the previous round's
    members and committee are carried over unchanged instead."""
    from mlip.potential import load_potential
    from mlip.train import TrainConfig, assemble_committee, train

    round_dir = out / f"round_{round_index}"
    committee_path = round_dir / "committee.pt"
    if committee_path.exists():
        return committee_path
    if reuse_previous:
        previous = out / f"round_{round_index - 1}"
        for k in range(cfg.train.committee_size):
            (round_dir / f"member_{k}").mkdir(parents=True, exist_ok=True)
            _copy(previous / f"member_{k}" / "best.pt", round_dir / f"member_{k}" / "best.pt")
        _copy(previous / "committee.pt", committee_path)
        return committee_path
    members = []
    for k in range(cfg.train.committee_size):
        previous = None
        if round_index > 0 and cfg.train.retrain == "finetune":
            previous = out / f"round_{round_index - 1}" / f"member_{k}" / "best.pt"
        spec = member_config(cfg, template, round_dir, k, labelled, validation, previous)
        best = train(TrainConfig.from_dict(spec), resume=True)
        members.append(load_potential(best))
    committee = assemble_committee(members)
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
