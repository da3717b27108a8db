"""What every trajectory writer shares: one frame every ``interval`` steps, never the same
step twice, the last good frame on failure, and the frame count a restart cuts back to.

Subclasses (:class:`md.reporters.AseTrajectoryReporter`,
:class:`md.reporters.MdtrajTrajectoryReporter`) only open their file and write one frame;
positions are wrapped into the cell by :mod:`md.frames` when a frame is written (the state
keeps them unwrapped). Units of what is written: see each subclass.
"""
from __future__ import annotations

import abc
import os
from typing import Any, Dict, List, Optional

from md.reporters.base import Reporter, RunContext, check_interval


class TrajectoryWriter(Reporter, abc.ABC):
    """Base of the trajectory reporters.

    Args:
        path: the trajectory file.
        interval: steps between frames.
        wrap: fold positions into the cell when writing.

    Subclasses implement :meth:`_open` and :meth:`_write_frame`, and may extend
    :meth:`state_dict` with what their restart needs (e.g. a byte offset).
    """

    order = 30

    def __init__(self, path: str, interval: int = 100, wrap: bool = True) -> None:
        self.path = str(path)
        self.interval = check_interval(interval)
        self.wrap = bool(wrap)
        self.key = f"trajectory:{os.path.basename(self.path)}"
        self._handle = None
        self._n_frames = 0
        self._last_step: Optional[int] = None
        self._resume: Optional[Dict[str, Any]] = None

    # -- subclass hooks -----------------------------------------------------------------
    @abc.abstractmethod
    def _open(self, state, resume: Optional[Dict[str, Any]]) -> None:
        """Set ``self._handle``: a new file, or (``resume`` = the checkpoint's state dict)
        the existing file cut back to the frames the checkpoint knew about, for appending."""

    @abc.abstractmethod
    def _write_frame(self, state) -> None:
        """Write ``state`` as one frame to ``self._handle`` and flush it."""

    # -- shared logic -------------------------------------------------------------------
    def _is_new(self, state) -> bool:
        return self._last_step is None or state.step > self._last_step

    def _write(self, state) -> None:
        self._write_frame(state)
        self._n_frames += 1
        self._last_step = state.step

    def start(self, state, context: RunContext) -> None:
        resume = self._resume if self._resume is not None and os.path.exists(self.path) else None
        self._open(state, resume)
        if self._is_new(state) and state.step % self.interval == 0:
            self.report(state, context)

    def report(self, state, context: RunContext) -> None:
        if self._handle is not None and self._is_new(state):
            self._write(state)

    def fail(self, last_good, context: RunContext, message: str) -> List[str]:
        if self._handle is not None and self._is_new(last_good):
            self._write(last_good)
        return [self.path]

    def finish(self, state, context: RunContext) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def state_dict(self) -> Dict[str, Any]:
        return {"n_frames": self._n_frames, "last_step": self._last_step}

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        self._resume = data
        self._n_frames = int(data["n_frames"])
        self._last_step = data["last_step"]
