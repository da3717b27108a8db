"""Error metrics per fidelity (level of theory) of multi-fidelity data.

Each frame is scored at its own fidelity (``Frame.fidelity``; frames without one at the
potential's selected fidelity). Every graph is evaluated once, in batches that may mix
fidelities: the errors of all frames together and of each fidelity are collected from the same
predictions (:class:`FidelityErrors`).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from mlip.data.batch import Batch, Graph, iterate_batches
from mlip.train.metrics import ErrorAccumulator, predict
from mlip.types import Prediction


class FidelityErrors:
    """Errors of all frames together and of each fidelity's frames (names in the order they
    first appear in ``graphs``; None: frames without one), from one pass over the batches."""

    def __init__(self, graphs: Sequence[Graph]):
        names: Dict[Optional[str], None] = {}
        for g in graphs:
            names.setdefault(g.frame.fidelity, None)
        self.multi = any(name is not None for name in names)
        self.all = ErrorAccumulator()
        self.per: Dict[Optional[str], ErrorAccumulator] = {name: ErrorAccumulator() for name in names}

    def add(self, pred: Prediction, batch: Batch) -> None:
        self.all.add(pred, batch)
        if not self.multi:
            return
        names = batch.fidelity if batch.fidelity is not None else (None,) * int(batch.n_atoms.numel())
        for name, errors in self.per.items():
            systems = torch.tensor([f == name for f in names], dtype=torch.bool, device=batch.energy_mask.device)
            if bool(systems.any()):
                errors.add(pred, batch, systems)

    def by_fidelity(self, keep_values: bool = False) -> Dict[Optional[str], Dict[str, Any]]:
        return {name: errors.result(keep_values) for name, errors in self.per.items()}

    def pooled(self, keep_values: bool = False) -> Dict[str, Any]:
        """All frames' metrics plus, for multi-fidelity data, ``"{fidelity}_{metric}"`` keys."""
        out = self.all.result(keep_values)
        if self.multi:
            for name, metrics in self.by_fidelity().items():
                out.update({f"{name}_{k}": v for k, v in metrics.items()})
        return out


def score(potential, graphs: Sequence[Graph], batch_size: int, loss: Optional[Callable] = None) -> Tuple[FidelityErrors, float]:
    """One pass of ``potential`` over ``graphs``: their errors and, with ``loss`` (a
    :class:`mlip.train.loss.Loss`), its mean over the frames (0.0 without one)."""
    errors = FidelityErrors(graphs)
    total, n = 0.0, 0
    for batch in iterate_batches(graphs, batch_size, potential.dtype, shuffle=False, device=potential.device):
        pred = predict(potential, batch)
        if loss is not None:
            value, _ = loss(pred, batch)
            total += float(value.detach()) * int(batch.n_atoms.numel())
            n += int(batch.n_atoms.numel())
        errors.add(pred, batch)
    return errors, total / max(n, 1)


def evaluate_by_fidelity(potential, graphs: Sequence[Graph], batch_size: int = 8, keep_values: bool = False) -> Dict[Optional[str], Dict[str, Any]]:
    """``{fidelity name (None: frames without one): metrics of :func:`mlip.train.metrics.evaluate`}``,
    in the order the fidelities first appear."""
    errors, _ = score(potential, graphs, batch_size)
    return errors.by_fidelity(keep_values) if errors.multi else {None: errors.all.result(keep_values)}


def evaluate_with_fidelities(potential, graphs: Sequence[Graph], batch_size: int = 8, keep_values: bool = False) -> Dict[str, Any]:
    """Metrics of all ``graphs`` (as :func:`~mlip.train.metrics.evaluate`) plus, for
    multi-fidelity data, each fidelity's as ``"{fidelity}_{metric}"`` (e.g. ``b3lyp_forces_mae_meV/A``)."""
    return score(potential, graphs, batch_size)[0].pooled(keep_values)


def fidelity_frame_counts(train: Sequence[Graph], valid: Sequence[Graph], test: Sequence[Graph]) -> Dict[str, int]:
    """Distinct frames (balanced training repeats counted once) of each split, in total and per
    fidelity: ``{"n_train": ..., "n_train_b3lyp": ..., ...}``; {} for single-fidelity data."""
    if all(g.frame.fidelity is None for g in list(train) + list(valid) + list(test)):
        return {}
    out: Dict[str, int] = {}
    for split, graphs in (("train", train), ("valid", valid), ("test", test)):
        frames = list({id(g.frame): g.frame for g in graphs}.values())
        out[f"n_{split}"] = len(frames)
        for f in frames:
            out[f"n_{split}_{f.fidelity}"] = out.get(f"n_{split}_{f.fidelity}", 0) + 1
    return out


def read_fidelity_frames(path: str, index: str, fidelity_keys: Sequence[str], energy_unit: str, known: Sequence[str]) -> list:
    """Frames of ``path`` labelled per fidelity from ``["NAME=ENERGY_KEY,FORCES_KEY", ...]``
    (``-`` or nothing: no such label), each frame with its ``fidelity``; names must be in
    ``known`` (the potential's fidelities), else UnknownFidelityError listing them."""
    from mlip.data.fidelities import parse_fidelities, read_structures
    from mlip.errors import ConfigError
    from mlip.models.fidelity_names import fidelity_index

    mapping: Dict[str, Dict[str, Any]] = {}
    for item in fidelity_keys:
        name, sep, keys = item.partition("=")
        parts = [k.strip() for k in keys.split(",")] if sep else []
        if not name or not sep or len(parts) > 2:
            raise ConfigError(f"--fidelity-keys {item!r}: write NAME=ENERGY_KEY,FORCES_KEY, e.g. b3lyp=dft_energy,dft_forces")
        fidelity_index(name, known)
        parts += [""] * (2 - len(parts))
        mapping[name] = {label: (None if key in ("", "-") else key) for label, key in zip(("energy", "forces"), parts)}
    specs = parse_fidelities(mapping, {"energy_unit": energy_unit, "stress": None, "virial": None})
    return [f for frames in read_structures(path, index, specs, None) for f in frames]
