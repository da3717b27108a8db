"""Baseline labels computed once per data file and cached next to it.

Training on the residual (target − baseline) needs every frame's baseline energy, forces and
stress. They are computed once and stored in ``.<data file name>.baseline-<key>.npz`` beside
the data file (or, if that directory is read-only, in ``~/.cache/mlip/baselines/``). The key
is a SHA-256 of the data file's bytes and of a description of the baseline (specs, weights of
frozen terms, which labels were read from the file), so editing the data or changing the
baseline settings invalidates the cache; a stale or unreadable cache file is recomputed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from mlip.atomic_io import atomic_path

from mlip.data.frames import Frame

CACHE_VERSION = 1


def cache_key(data_path: str, description: Dict[str, Any]) -> str:
    """Hex SHA-256 of the data file's bytes and the JSON ``description`` of the baseline."""
    h = hashlib.sha256()
    with open(data_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(json.dumps({"cache_version": CACHE_VERSION, **description}, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_file(data_path: str, key: str) -> Path:
    """Where the labels of ``data_path`` under ``key`` are cached (beside the data if writable)."""
    p = Path(data_path).resolve()
    name = f".{p.name}.baseline-{key[:20]}.npz"
    if os.access(p.parent, os.W_OK):
        return p.parent / name
    return Path.home() / ".cache" / "mlip" / "baselines" / name


def _pack(labels: List[Dict[str, Any]]) -> Dict[str, np.ndarray]:
    return {
        "energy": np.array([l["energy"] for l in labels], dtype=np.float64),
        "n_atoms": np.array([len(l["forces"]) for l in labels], dtype=np.int64),
        "forces": np.concatenate([l["forces"] for l in labels]).astype(np.float64),
        "stress": np.stack([np.zeros((3, 3)) if l["stress"] is None else l["stress"] for l in labels]),
        "has_stress": np.array([l["stress"] is not None for l in labels]),
    }


def _unpack(arrays) -> List[Dict[str, Any]]:
    ends = np.cumsum(arrays["n_atoms"])
    starts = ends - arrays["n_atoms"]
    return [
        {"energy": float(arrays["energy"][k]), "forces": arrays["forces"][starts[k] : ends[k]],
         "stress": arrays["stress"][k] if arrays["has_stress"][k] else None}
        for k in range(len(ends))
    ]


def cached_baseline_labels(
    data_path: str, frames: Sequence[Frame], description: Dict[str, Any], compute: Callable[[Sequence[Frame]], List[Dict[str, Any]]]
) -> List[Dict[str, Any]]:
    """Per-frame ``{"energy", "forces", "stress"}`` baseline labels of ``frames`` (all frames of
    ``data_path``, in file order): read from the cache if valid, else ``compute(frames)`` and cache."""
    key = cache_key(data_path, description)
    path = cache_file(data_path, key)
    if path.exists():
        try:
            with np.load(path) as z:
                if str(z["key"]) == key and len(z["energy"]) == len(frames):
                    return _unpack(z)
        except Exception:  # unreadable or foreign: recompute
            pass
    labels = compute(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(str(path), suffix=".npz") as tmp:  # the suffix keeps numpy from adding one
        np.savez(tmp, key=np.array(key), **_pack(labels))
    return labels


def subtract_baseline(frame: Frame, label: Dict[str, Any]) -> Frame:
    """The frame with baseline energy/forces/stress subtracted from its labels (the residual)."""
    energy = None if frame.energy is None else frame.energy - label["energy"]
    forces = None if frame.forces is None else frame.forces - label["forces"]
    stress = frame.stress
    if stress is not None:
        stress = stress - (label["stress"] if label["stress"] is not None else 0.0)
    return dataclasses.replace(frame, energy=energy, forces=forces, stress=stress)
