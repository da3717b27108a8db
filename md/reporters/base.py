"""The reporter interface of :func:`md.run` (OpenMM style) and the run context it receives.

The driver calls, in this order:

* ``start(state, context)`` once (after :func:`md.load_checkpoint` restored
  ``load_state_dict`` for a restart),
* ``report(state, context)`` after every step with ``state.step % interval == 0``
  (reporters are called by increasing ``order``: energy monitor, writers, checkpoints),
* ``fail(last_good_state, context, message)`` if the run becomes unstable; it returns the
  paths it wrote (the last good frame, a checkpoint), which the error message lists,
* ``finish(state, context)`` at the end, also after a failure (checkpoints first).

``state_dict``/``load_state_dict`` carry whatever a reporter needs for a bit-exact restart
(file offsets, buffered rows, the shadow monitor's history).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence


@dataclass
class RunContext:
    """What reporters may look at besides the state.

    Attributes:
        integrator: the integrator driving the run.
        forcefield: the force field.
        reporters: every reporter of the run (a checkpoint collects their state dicts).
        start_step: ``state.step`` when this call of :func:`md.run` began.
        end_step: ``state.step`` it will reach if nothing fails.
    """

    integrator: Any
    forcefield: Any
    reporters: Sequence["Reporter"]
    start_step: int
    end_step: int


class Reporter:
    """Base class with do-nothing hooks; subclasses override what they need.

    Attributes:
        interval: report every ``interval`` steps (>= 1).
        order: call order within a step (lower first).
        key: unique name under which checkpoints store this reporter's state.
    """

    interval: int = 1
    order: int = 50
    key: str = "reporter"

    def start(self, state, context: RunContext) -> None:
        """Open files, write headers, record the starting state where due."""

    def report(self, state, context: RunContext) -> None:
        """Record ``state`` (called when ``state.step % interval == 0``)."""

    def wants_stress(self, step: int) -> bool:
        """True if the state of ``step`` must carry the stress (e.g. to log pressure)."""
        return False

    def fail(self, last_good, context: RunContext, message: str) -> List[str]:
        """Keep what is needed after an unstable step; return the paths written."""
        return []

    def finish(self, state, context: RunContext) -> None:
        """Flush and close."""

    def state_dict(self) -> Dict[str, Any]:
        """Plain data (tensors, numbers, strings, lists, dicts) for a bit-exact restart."""
        return {}

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (called before :meth:`start` on a restart)."""


def check_interval(interval: int, name: str = "interval") -> int:
    """A positive integer interval, or a ConfigError."""
    from mlip.errors import ConfigError

    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ConfigError(f"{name} must be an integer >= 1 (steps), got {interval!r}")
    return interval
