"""Finding and loading the compiled op library ``libmlip_ops`` (built by ``make ops``).

The library registers ``torch.ops.mlip.*`` (see cuda/torch/ops.cpp). It is looked up, in order:

1. ``$MLIP_OPS_LIBRARY`` (a path to the ``.so``; when set, nothing else is tried);
2. ``build/libmlip_ops.so`` at the root of the source checkout this package lives in;
3. ``libmlip_ops.so`` next to this file (an installed copy).

Loading happens on first use (``available()``, ``require()``, or a native module or function),
never at ``import mlip``.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import List, Optional

import torch

from mlip.errors import BackendUnavailableError

LIBRARY_NAME = "libmlip_ops.so"
_lock = threading.Lock()
_state = {"tried": False, "path": None, "error": None}


def candidate_paths() -> List[Path]:
    """Where the library is looked for, in order (see module docstring)."""
    explicit = os.environ.get("MLIP_OPS_LIBRARY")
    if explicit:
        return [Path(explicit)]
    here = Path(__file__).resolve().parent
    return [here.parents[1] / "build" / LIBRARY_NAME, here / LIBRARY_NAME]


def _load() -> None:
    with _lock:
        if _state["tried"]:
            return
        _state["tried"] = True
        if hasattr(torch.ops, "mlip") and _has_op("tp_conv"):  # loaded by someone else (e.g. C++ host)
            _state["path"] = "(already registered)"
            return
        reasons = []
        for path in candidate_paths():
            if not path.exists():
                reasons.append(f"{path}: not found")
                continue
            try:
                torch.ops.load_library(str(path))
            except (OSError, RuntimeError) as exc:  # e.g. built against another torch
                reasons.append(f"{path}: {exc}")
                continue
            _state["path"] = str(path)
            return
        _state["error"] = "; ".join(reasons) or "no candidate path"


def _has_op(name: str) -> bool:
    try:
        getattr(torch.ops.mlip, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def available() -> bool:
    """True when the native op library is loaded (loading it on first call)."""
    _load()
    return _state["path"] is not None


def library_path() -> Optional[str]:
    """Path of the loaded library, or None."""
    _load()
    return _state["path"]


def load_error() -> Optional[str]:
    """Why the library could not be loaded, or None when it is loaded."""
    _load()
    return _state["error"]


def require() -> None:
    """Raise :class:`~mlip.errors.BackendUnavailableError` unless the library is loaded."""
    if not available():
        raise BackendUnavailableError(
            "backend 'native' needs the compiled op library libmlip_ops, which is not available "
            f"({_state['error']}). Build it with `make ops` in the source checkout (CMake, see "
            "docs/kernels.md; a later `pip install .` then carries it), or point MLIP_OPS_LIBRARY at "
            "a built copy; or use backend='auto' or 'reference' (pure torch, same weights)."
        )


def build_info() -> str:
    """One-line description of the loaded library (torch version, CUDA, SIMD, OpenMP)."""
    require()
    return str(torch.ops.mlip.build_info())
