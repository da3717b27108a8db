"""Error metrics per fidelity (level of theory) of multi-fidelity data.

Each frame is scored at its own fidelity (``Frame.fidelity``; frames without one at the
potential's selected fidelity). Every graph is evaluated once: the metrics of all frames
together are pooled from the per-fidelity ones (MAE weighted by the number of values, RMSE
from the pooled mean square).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from mlip.data.batch import Graph
from mlip.train.metrics import evaluate

#: (quantity, unit in the metric names, values per frame carrying it: 1, 3 per atom, 9)
_QUANTITIES = (("energy", "meV/atom"), ("forces", "meV/A"), ("stress", "meV/A3"))


def evaluate_by_fidelity(potential, graphs: Sequence[Graph], batch_size: int = 8, keep_values: bool = False) -> Dict[Optional[str], Dict[str, Any]]:
    """``{fidelity name (None: frames without one): metrics of :func:`mlip.train.metrics.evaluate`}``,
    in the order the fidelities first appear."""
    groups: Dict[Optional[str], list] = {}
    for g in graphs:
        groups.setdefault(g.frame.fidelity, []).append(g)
    return {name: evaluate(potential, group, batch_size, keep_values) for name, group in groups.items()}


def _count(graphs: Sequence[Graph], quantity: str) -> int:
    per_frame = {"energy": lambda f: 1, "forces": lambda f: 3 * f.n_atoms, "stress": lambda f: 9}[quantity]
    return sum(per_frame(g.frame) for g in graphs if getattr(g.frame, quantity) is not None)


def evaluate_with_fidelities(potential, graphs: Sequence[Graph], batch_size: int = 8, keep_values: bool = False) -> Dict[str, Any]:
    """Metrics of all ``graphs`` (as :func:`~mlip.train.metrics.evaluate`) plus, for
    multi-fidelity data, each fidelity's as ``"{fidelity}_{metric}"`` (e.g. ``b3lyp_forces_mae_meV/A``)."""
    if all(g.frame.fidelity is None for g in graphs):
        return evaluate(potential, graphs, batch_size, keep_values)
    per = evaluate_by_fidelity(potential, graphs, batch_size, keep_values)
    groups = {name: [g for g in graphs if g.frame.fidelity == name] for name in per}
    out: Dict[str, Any] = {}
    for quantity, unit in _QUANTITIES:
        mae, rmse = f"{quantity}_mae_{unit}", f"{quantity}_rmse_{unit}"
        pairs = [(m, _count(groups[name], quantity)) for name, m in per.items() if mae in m]
        n = sum(c for _, c in pairs)
        if n:
            out[mae] = sum(m[mae] * c for m, c in pairs) / n
            out[rmse] = float(np.sqrt(sum(m[rmse] ** 2 * c for m, c in pairs) / n))
    if keep_values:
        out["_values"] = {k: np.concatenate([m["_values"][k] for m in per.values()]) for k in next(iter(per.values()))["_values"]}
    for name, metrics in per.items():
        out.update({f"{name}_{k}": v for k, v in metrics.items() if k != "_values"})
    return out


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
