"""The potential file format: its constants and the checked reading of a file's payload.

A file is a ``torch.save`` dict read back with ``weights_only=True`` (no pickled code); see
:mod:`mlip.potential` for its fields. :func:`read_payload` checks the format, version, units,
metadata keys, model config and dtype, and names the file and the problem when any is wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

import torch

from mlip.errors import PotentialFileError
from mlip.models.config import ModelConfig

FORMAT_NAME = "mlip-potential"
FORMAT_VERSION = 1
UNITS = {"length": "Å", "energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3", "mass": "amu", "charge": "e"}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def fail(path, why: str) -> PotentialFileError:
    return PotentialFileError(f"{path}: {why}")


def read_payload(p: Path) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor], ModelConfig, torch.dtype]:
    """``(metadata, state_dict, model config, saved dtype)`` of the potential file ``p``.

    Raises:
        PotentialFileError: unreadable, foreign, newer-format or inconsistent file.
    """
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted, truncated, or a pickle with code
        raise fail(p, f"not a readable mlip potential file (corrupted or another format): {type(exc).__name__}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise fail(p, "not an mlip potential file (no 'format': 'mlip-potential' entry)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise fail(p, f"format version {version!r} is not supported by this mlip (reads version {FORMAT_VERSION})")
    meta = payload.get("metadata")
    state = payload.get("state_dict")
    if not isinstance(meta, dict) or not isinstance(state, dict):
        raise fail(p, "missing 'metadata' or 'state_dict'")
    for key in ("elements", "atomic_numbers", "cutoff_A", "dtype", "units", "config"):
        if key not in meta:
            raise fail(p, f"metadata lacks {key!r}")
    if meta["units"] != UNITS:
        raise fail(p, f"units {meta['units']} differ from mlip's {UNITS}")
    config_dict = dict(meta["config"])
    config_dict.pop("backend", None)  # files written before the backend left the config
    try:
        config = ModelConfig.from_dict(config_dict)
    except Exception as exc:
        raise fail(p, f"invalid model config in metadata: {exc}") from exc
    if list(config.elements) != list(meta["elements"]) or list(config.atomic_numbers) != list(meta["atomic_numbers"]):
        raise fail(p, f"metadata elements {meta['elements']} disagree with the config's {list(config.elements)}")
    saved_dtype = DTYPES.get(meta["dtype"])
    if saved_dtype is None:
        raise fail(p, f"unknown dtype {meta['dtype']!r}")
    return meta, state, config, saved_dtype
