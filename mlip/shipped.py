"""Find potentials shipped in the repository's potentials/ folder by name.

Looked up in the source checkout (``potentials/`` beside the package: a checkout or an editable
install) and then in the installed package (``mlip/_potentials/``, which ``pip install .``
fills from potentials/; see setup.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

_HERE = Path(__file__).resolve().parent
#: potentials/ next to the mlip package (source checkout or editable install).
POTENTIALS_DIR = _HERE.parent / "potentials"
#: the copy a non-editable install carries
INSTALLED_DIR = _HERE / "_potentials"


def _folders() -> List[Path]:
    return [d for d in (POTENTIALS_DIR, INSTALLED_DIR) if d.is_dir()]


def list_shipped() -> List[str]:
    """Names of shipped potentials (folders holding a ``potential.pt``)."""
    return sorted({p.name for d in _folders() for p in d.iterdir() if (p / "potential.pt").is_file()})


def find_shipped(name: str) -> Optional[Path]:
    """Path of the shipped potential called ``name``, or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for folder in _folders():
        candidate = folder / name / "potential.pt"
        if candidate.is_file():
            return candidate
    return None
