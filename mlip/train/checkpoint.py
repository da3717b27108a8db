"""Atomic writes of training checkpoints and metric tables.

Each write goes through :mod:`mlip.atomic_io`: a temporary file with a unique name in the
destination's directory, fsync'ed and renamed over the destination; on any error the temporary
file is removed and the destination keeps its old content. Two writers of one folder
(committee members, two runs) never share a temporary file.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List

from mlip.atomic_io import atomic_write_bytes as _atomic_write_bytes


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (parents created) so that readers see the old file or the new
    one, never half (:mod:`mlip.atomic_io`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(str(path), data)


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """torch.save ``state`` atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights-only unpickling)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def write_metrics_csv(path: Path, rows: List[Dict[str, Any]]) -> None:
    """Write all metric rows (the union of their columns) atomically."""
    columns: List[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_bytes(path, buf.getvalue().encode())
