"""The loop's journal: where it is (round, phase) and what each round measured, in one JSON
file rewritten atomically after every phase, so ``mlip learn --resume`` continues after a kill.

Phases of a round, in order: ``initial`` (round 0 only: label the initial frames), ``train``,
``explore``, ``select``, ``label``; then the next round, or ``done``.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List

from mlip.atomic_io import atomic_open
from mlip.errors import ConfigError

PHASES = ("initial", "train", "explore", "select", "label", "done")


@dataclass
class Journal:
    """Mutable progress record (saved with :meth:`save`).

    Attributes:
        round: the current round (0-based).
        phase: the phase of that round still to do (or ``done``).
        quiet_fs: simulated time explored since σ last passed the threshold, fs.
        rows: one dict per finished round (labels, errors, max σ, ...).
        stopped: why the loop ended ("" while it runs).
        config: the resolved learn config of the run (a resume must use the same one).
    """

    round: int = 0
    phase: str = "initial"
    quiet_fs: float = 0.0
    rows: List[Dict[str, Any]] = field(default_factory=list)
    stopped: str = ""
    config: Dict[str, Any] = field(default_factory=dict)

    def save(self, path: str) -> None:
        with atomic_open(path, "w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh, indent=2)

    @classmethod
    def load(cls, path: str) -> "Journal":
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        journal = cls(**data)
        if journal.phase not in PHASES:
            raise ConfigError(f"{path}: unknown phase {journal.phase!r}; the journal is damaged, start a new output folder")
        return journal


def open_journal(path: str, config: Dict[str, Any], resume: bool) -> Journal:
    """The journal of an output folder: a new one, or (``resume``) the saved one, which must
    belong to the same config."""
    if os.path.exists(path):
        if not resume:
            raise ConfigError(f"{os.path.dirname(path) or '.'} already holds a learn run ({path}); pass --resume to "
                              "continue it, or choose another output folder")
        journal = Journal.load(path)
        if _comparable(journal.config) != _comparable(config):
            raise ConfigError(f"{path} was written by a different learn config; resume with the same config, or "
                              "choose another output folder")
        return journal
    if resume:
        raise ConfigError(f"nothing to resume: {path} does not exist (run without --resume to start)")
    journal = Journal(config=config)
    journal.save(path)
    return journal


def _comparable(config: Dict[str, Any]) -> Dict[str, Any]:
    """The config without its stop section (a resumed loop may be given a larger budget) and
    without unset (None) options, so a newer mlip with more optional keys resumes an older run."""
    def drop_none(value):
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        return value

    return drop_none({k: v for k, v in config.items() if k != "stop"})
