"""Write a JSON result file atomically (temporary file, then rename), so an interrupted
validation run never leaves a half-written result. Shared by the scripts in this folder."""
from __future__ import annotations

import json
import os


def write_json(path: str, obj, indent: int = 2) -> None:
    """``json.dump(obj)`` to ``path`` via ``path.tmp`` and ``os.replace``; non-JSON values
    (e.g. numpy scalars) are written with ``str``."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, default=str)
    os.replace(tmp, path)
