"""Checkpoints of a batch of systems: one file, written atomically, so every system of a
batch restarts from the same step.

The file holds, per system, exactly what a one-system checkpoint holds (:mod:`md.checkpoint`:
state, integrator parameters and extended variables, generator state, neighbour cache, the
reporters' restart data), in the order of the batch.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

from mlip.errors import ConfigError

from md.checkpoint import VERSION, atomic_save, checkpoint_payload, read_checkpoint, restore
from md.state import State

BATCH_FORMAT = "mlip-md-batch-checkpoint"


def save_batch_checkpoint(path: str, states: Sequence[State], integrators: Sequence,
                          reporters_per_system: Sequence[Sequence] = (), forcefield_description: str = "") -> None:
    """Write one checkpoint of every system of a batch (state, integrator, reporters) to ``path``."""
    reporters = list(reporters_per_system) or [()] * len(states)
    payload = {"format": BATCH_FORMAT, "version": VERSION,
               "systems": [checkpoint_payload(s, i, r, forcefield_description)
                           for s, i, r in zip(states, integrators, reporters)]}
    atomic_save(payload, path)


def read_batch_checkpoint(path: str) -> Dict[str, Any]:
    """The raw batch checkpoint (validated format), or a clear ConfigError."""
    return read_checkpoint(path, BATCH_FORMAT)


def load_batch_checkpoint(path: str, integrators: Sequence, reporters_per_system: Optional[Sequence[Sequence]] = None,
                          device: Optional[torch.device] = None) -> List[State]:
    """The states of a batch checkpoint; each system's reporters get their restart data.

    ``integrators`` (one per system) must have the parameters the checkpoint was written with.
    """
    systems = read_batch_checkpoint(path)["systems"]
    reporters = list(reporters_per_system) if reporters_per_system is not None else [()] * len(systems)
    if len(integrators) != len(systems) or len(reporters) != len(systems):
        raise ConfigError(f"{path!r} holds {len(systems)} systems but the restart gives {len(integrators)} "
                          f"integrators and {len(reporters)} reporter lists; restart with the batch's own settings")
    return [restore(data, integrator, reps, device)
            for data, integrator, reps in zip(systems, integrators, reporters)]
