"""Periodic, atomic checkpoints (see :mod:`md.checkpoint` for what they hold)."""
from __future__ import annotations

import os
from typing import List

from md.checkpoint import save_checkpoint
from md.forcefield import describe
from md.reporters.base import Reporter, RunContext, check_interval


class CheckpointReporter(Reporter):
    """Write a checkpoint every ``interval`` steps, at the end of the run, and of the last
    good state when a run fails. Runs after every other reporter of a step (so their state
    dicts describe files that already hold that step), and finishes before them.

    Args:
        path: checkpoint file (replaced atomically each time).
        interval: steps between checkpoints.
    """

    order = 100

    def __init__(self, path: str, interval: int = 1000) -> None:
        self.path = str(path)
        self.interval = check_interval(interval)
        self.key = f"checkpoint:{os.path.basename(self.path)}"
        self.n_written = 0
        self._last_step = None

    def _save(self, state, context: RunContext) -> None:
        others = [r for r in context.reporters if r is not self]
        save_checkpoint(self.path, state, context.integrator, others, describe(context.forcefield))
        self.n_written += 1
        self._last_step = state.step

    def report(self, state, context: RunContext) -> None:
        if state.step != context.start_step:
            self._save(state, context)

    def fail(self, last_good, context: RunContext, message: str) -> List[str]:
        if self._last_step != last_good.step:
            self._save(last_good, context)
        return [self.path]

    def finish(self, state, context: RunContext) -> None:
        if self._last_step != state.step:
            self._save(state, context)
