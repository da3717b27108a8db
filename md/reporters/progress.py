"""Progress bar (tqdm) with simulation speed in ns/day and atom·steps/s."""
from __future__ import annotations

import sys
import time
from typing import Optional

from md.reporters.base import Reporter, RunContext, check_interval


def speed(n_steps: int, seconds: float, timestep_fs: float, n_atoms: int):
    """(ns/day, atom·steps/s) for ``n_steps`` steps of ``timestep_fs`` fs in ``seconds``."""
    if seconds <= 0.0:
        return 0.0, 0.0
    ns_per_day = n_steps * timestep_fs * 1e-6 * 86400.0 / seconds
    return ns_per_day, n_steps * n_atoms / seconds


class ProgressReporter(Reporter):
    """A tqdm bar updated every ``interval`` steps.

    Args:
        interval: steps between updates.
        enabled: show the bar; None = only when stderr is a terminal (interactive runs).
        stream: where to draw it (default stderr).
    """

    order = 90
    key = "progress"

    def __init__(self, interval: int = 100, enabled: Optional[bool] = None, stream=None) -> None:
        self.interval = check_interval(interval)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(enabled) if enabled is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        self._t0 = 0.0
        self._step0 = 0
        self._n_atoms = 0
        self._timestep_fs = 0.0
        self.ns_per_day = 0.0
        self.atom_steps_per_s = 0.0

    def start(self, state, context: RunContext) -> None:
        self._t0 = time.perf_counter()
        self._step0 = state.step
        self._n_atoms = state.n_atoms
        self._timestep_fs = float(context.integrator.timestep_fs)
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=context.end_step - context.start_step, unit="step", file=self.stream,
                             dynamic_ncols=True, desc=f"md {context.integrator.name}")

    def report(self, state, context: RunContext) -> None:
        done = state.step - self._step0
        self.ns_per_day, self.atom_steps_per_s = speed(done, time.perf_counter() - self._t0,
                                                       self._timestep_fs, self._n_atoms)
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix_str(f"{self.ns_per_day:.3g} ns/day, {self.atom_steps_per_s:.3g} atom·steps/s",
                                      refresh=False)
            self._bar.refresh()

    def finish(self, state, context: RunContext) -> None:
        self.report(state, context)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
