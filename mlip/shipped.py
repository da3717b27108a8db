"""Find potentials shipped in the repository's potentials/ folder by name."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

#: potentials/ next to the mlip package (source checkout or editable install).
POTENTIALS_DIR = Path(__file__).resolve().parent.parent / "potentials"


def list_shipped() -> List[str]:
    """Names of shipped potentials (folders of potentials/ holding a ``potential.pt``)."""
    if not POTENTIALS_DIR.is_dir():
        return []
    return sorted(p.name for p in POTENTIALS_DIR.iterdir() if (p / "potential.pt").is_file())


def find_shipped(name: str) -> Optional[Path]:
    """Path of the shipped potential called ``name``, or None."""
    candidate = POTENTIALS_DIR / name / "potential.pt"
    return candidate if candidate.is_file() else None
