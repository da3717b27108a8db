"""Trajectory writer for ASE formats: extended XYZ (``.extxyz``/``.xyz``) and ASE ``.traj``.

Frames hold wrapped positions, cell, energy, forces and velocities (see
:func:`md.frames.atoms_from_state`). On a restart the file is cut back to the frames the
checkpoint knew about, so a restarted run writes the same file as an uninterrupted one.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from mlip.errors import ConfigError

from md.frames import atoms_from_state
from md.reporters.base import Reporter, RunContext, check_interval

_FORMATS = {".extxyz": "extxyz", ".xyz": "extxyz", ".traj": "traj"}


class AseTrajectoryReporter(Reporter):
    """Write a frame every ``interval`` steps to ``path`` (format from the suffix).

    Args:
        path: ``*.extxyz``, ``*.xyz`` or ``*.traj``.
        interval: steps between frames.
        wrap: fold positions into the cell when writing.
    """

    order = 30

    def __init__(self, path: str, interval: int = 100, wrap: bool = True) -> None:
        self.path = str(path)
        suffix = os.path.splitext(self.path)[1].lower()
        if suffix not in _FORMATS:
            raise ConfigError(f"unknown trajectory suffix {suffix!r} for ASE; use one of {sorted(_FORMATS)} "
                              "(or .dcd/.xtc via MdtrajTrajectoryReporter)")
        self.format = _FORMATS[suffix]
        self.interval = check_interval(interval)
        self.wrap = bool(wrap)
        self.key = f"trajectory:{os.path.basename(self.path)}"
        self._handle = None
        self._n_frames = 0
        self._last_step: Optional[int] = None
        self._resume: Optional[Dict[str, Any]] = None

    def start(self, state, context: RunContext) -> None:
        resume = self._resume is not None and os.path.exists(self.path)
        if resume:
            self._cut_back(int(self._resume["n_frames"]), int(self._resume["offset"]))
        self._open(append=resume)
        if (self._last_step is None or state.step > self._last_step) and state.step % self.interval == 0:
            self.report(state, context)

    def _open(self, append: bool) -> None:
        if self.format == "extxyz":
            self._handle = open(self.path, "a" if append else "w", encoding="utf-8")
        else:
            from ase.io import Trajectory

            self._handle = Trajectory(self.path, "a" if append else "w")

    def _cut_back(self, n_frames: int, offset: int) -> None:
        if self.format == "extxyz":
            with open(self.path, "r+b") as handle:
                handle.truncate(offset)
            return
        from ase.io import Trajectory, read

        frames = read(self.path, index=f":{n_frames}") if n_frames else []
        tmp = f"{self.path}.tmp"
        with Trajectory(tmp, "w") as out:
            for atoms in frames:
                out.write(atoms)
        os.replace(tmp, self.path)

    def _write(self, state) -> None:
        atoms = atoms_from_state(state, self.wrap)
        if self.format == "extxyz":
            from ase.io import write

            write(self._handle, atoms, format="extxyz")
            self._handle.flush()
        else:
            self._handle.write(atoms)  # ASE's Trajectory syncs after every frame
        self._n_frames += 1
        self._last_step = state.step

    def report(self, state, context: RunContext) -> None:
        if self._handle is None or (self._last_step is not None and state.step <= self._last_step):
            return
        self._write(state)

    def fail(self, last_good, context: RunContext, message: str) -> List[str]:
        if self._handle is not None and (self._last_step is None or last_good.step > self._last_step):
            self._write(last_good)
        return [self.path]

    def finish(self, state, context: RunContext) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def state_dict(self) -> Dict[str, Any]:
        offset = 0
        if self.format == "extxyz" and self._handle is not None:
            self._handle.flush()
            offset = os.fstat(self._handle.fileno()).st_size
        return {"n_frames": self._n_frames, "offset": offset, "last_step": self._last_step}

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        self._resume = data
        self._n_frames = int(data["n_frames"])
        self._last_step = data["last_step"]
