"""The loop's labelled frames: one extxyz file, every frame with its provenance.

Labels are stored under ``REF_energy`` (eV), ``REF_forces`` (eV/Å) and ``REF_stress`` (Voigt-6,
eV/Å³, ASE sign; periodic frames whose oracle gives stress). Provenance in ``atoms.info``:
``round``, ``condition``, ``sigma_eV_per_A`` (the σ predicted before labelling; NaN for initial
frames), ``source`` (``initial`` | ``explore``), ``oracle``.

Each labelled frame is first written on its own (``labelled/NNNNNN.extxyz``, through a
temporary file and a rename), so a kill at any moment loses at most the frame being labelled
and the cost per frame does not grow with the set; the combined ``labelled.extxyz`` that
training reads is rebuilt (atomically) from those files when a labelling phase ends.
"""
from __future__ import annotations

import os
from typing import Any, List

import numpy as np

from mlip.atomic_io import atomic_path
from mlip.learn.config import LABEL_KEYS
from mlip.learn.oracle import Labels


def with_labels(atoms, labels: Labels, round_index: int, condition: str, sigma_eV_per_A: float, source: str,
                oracle: str):
    """A copy of ``atoms`` carrying ``labels`` and its provenance (see the module docstring)."""
    out = atoms.copy()
    out.calc = None
    for key in ("sigma_forces",):
        if key in out.arrays:
            out.arrays["sigma_forces_eV_per_A"] = out.arrays.pop(key)
    out.info[LABEL_KEYS["energy"]] = labels.energy_eV
    out.arrays[LABEL_KEYS["forces"]] = labels.forces
    if labels.stress is not None:
        out.info[LABEL_KEYS["stress"]] = labels.stress
    out.info.update(round=int(round_index), condition=str(condition), sigma_eV_per_A=float(sigma_eV_per_A),
                    source=str(source), oracle=str(oracle))
    return out


def read_labelled(path: str) -> List[Any]:
    """All labelled frames of ``path`` (empty when it does not exist yet)."""
    if not os.path.exists(path):
        return []
    import ase.io

    return list(ase.io.read(path, index=":", format="extxyz"))


def write_labelled(path: str, frames: List[Any]) -> None:
    """Write ``frames`` to ``path`` atomically (temporary file, then rename)."""
    import ase.io

    with atomic_path(path, suffix=".extxyz") as tmp:
        ase.io.write(tmp, frames, format="extxyz")


class LabelledStore:
    """The folder of one-frame files behind ``labelled.extxyz`` (see the module docstring)."""

    def __init__(self, folder: str, combined: str, explored_weight: float = 1.0):
        self.folder, self.combined, self.explored_weight = folder, combined, float(explored_weight)
        os.makedirs(folder, exist_ok=True)

    def _files(self) -> List[str]:
        return sorted(f for f in os.listdir(self.folder) if f.endswith(".extxyz") and f[:-7].isdigit())

    def __len__(self) -> int:
        return len(self._files())

    def frames(self) -> List[Any]:
        """Every labelled frame, in labelling order."""
        import ase.io

        return [ase.io.read(os.path.join(self.folder, f), format="extxyz") for f in self._files()]

    def add(self, atoms) -> None:
        """Keep one more labelled frame (atomic)."""
        write_labelled(os.path.join(self.folder, f"{len(self):06d}.extxyz"), [atoms])

    def write_combined(self) -> List[Any]:
        """Rebuild ``labelled.extxyz`` from the one-frame files; returns the frames. Frames the
        loop labelled (``source: explore``) carry ``info["weight"] = explored_weight`` there
        (the loss weight ``mlip train`` reads) when it is not 1; the one-frame files keep none."""
        frames = self.frames()
        if self.explored_weight != 1.0:
            for atoms in frames:
                if atoms.info.get("source") == "explore":
                    atoms.info["weight"] = self.explored_weight
        write_labelled(self.combined, frames)
        return frames


def count_by_round(frames: List[Any], round_index: int, source: str = "explore") -> int:
    """Number of frames labelled in ``round_index`` from ``source``."""
    return sum(1 for a in frames if a.info.get("round") == round_index and a.info.get("source") == source)


def rattled(atoms, amplitude_A: float, rng: np.random.Generator):
    """A copy of ``atoms`` with every position displaced by N(0, amplitude_A²) per component, Å."""
    out = atoms.copy()
    out.calc = None
    out.positions = out.positions + rng.normal(0.0, amplitude_A, size=out.positions.shape)
    return out
