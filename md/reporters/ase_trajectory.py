"""Trajectory writer for ASE formats: extended XYZ (``.extxyz``/``.xyz``) and ASE ``.traj``.

Frames hold wrapped positions, cell, energy, forces and velocities (see
:func:`md.frames.atoms_from_state`). On a restart the file is cut back to the frames the
checkpoint knew about, so a restarted run writes the same file as an uninterrupted one.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from mlip.errors import ConfigError

from mlip.atomic_io import atomic_path
from md.frames import atoms_from_state
from md.reporters.trajectory_writer import TrajectoryWriter

_FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".traj": "traj"}


class AseTrajectoryReporter(TrajectoryWriter):
    """Write a frame every ``interval`` steps to ``path`` (format from the suffix).

    Args:
        path: ``*.extxyz``, ``*.xyz`` or ``*.traj``.
        interval: steps between frames.
        wrap: fold positions into the cell when writing.
    """

    def __init__(self, path: str, interval: int = 100, wrap: bool = True) -> None:
        suffix = os.path.splitext(str(path))[1].lower()
        if suffix not in _FORMATS:
            raise ConfigError(f"unknown trajectory suffix {suffix!r} for ASE; use one of {sorted(_FORMATS)} "
                              "(or .dcd/.xtc via MdtrajTrajectoryReporter)")
        super().__init__(path, interval, wrap)
        self.format = _FORMATS[suffix]

    def _open(self, state, resume: Optional[Dict[str, Any]]) -> None:
        if resume is not None:
            self._cut_back(int(resume["n_frames"]), int(resume["offset"]))
        mode = "a" if resume is not None else "w"
        if self.format == "extxyz":
            self._handle = open(self.path, mode, encoding="utf-8")
        else:
            from ase.io import Trajectory

            self._handle = Trajectory(self.path, mode)

    def _cut_back(self, n_frames: int, offset: int) -> None:
        if self.format == "extxyz":
            with open(self.path, "r+b") as handle:
                handle.truncate(offset)
            return
        from ase.io import Trajectory, read

        frames = read(self.path, index=f":{n_frames}") if n_frames else []
        with atomic_path(self.path, suffix=".traj") as tmp:
            with Trajectory(tmp, "w") as out:
                for atoms in frames:
                    out.write(atoms)

    def _write_frame(self, state) -> None:
        atoms = atoms_from_state(state, self.wrap)
        if self.format == "extxyz":
            from ase.io import write

            write(self._handle, atoms, format="extxyz")
            self._handle.flush()
        else:
            self._handle.write(atoms)  # ASE's Trajectory syncs after every frame

    def state_dict(self) -> Dict[str, Any]:
        offset = 0
        if self.format == "extxyz" and self._handle is not None:
            self._handle.flush()
            offset = os.fstat(self._handle.fileno()).st_size
        return {**super().state_dict(), "offset": offset}
