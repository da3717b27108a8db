"""Checkpoints: everything needed to continue a run bit for bit, written atomically.

A checkpoint is a ``torch.save`` file of plain data (tensors, numbers, strings, lists,
dicts — loadable with ``weights_only=True``): the state (unwrapped positions, velocities,
forces, energy, step, time, RNG state, fixed atoms), the neighbour-list cache, the
integrator's parameters and extended variables, and every reporter's ``state_dict`` (file
offsets, buffered rows, the shadow monitor's stencil and history). It is written to a
temporary file with a unique name in the same directory (two writers of one folder never
share it), fsync'ed, then renamed over the old one (``os.replace``), so a crash never leaves
a half-written checkpoint; on failure the temporary file is removed (:mod:`mlip.atomic_io`).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence

import torch

from mlip.errors import ConfigError
from mlip.types import Edges, System

from mlip.atomic_io import atomic_open
from md.neighbor_cache import NeighborState
from md.state import State

FORMAT = "mlip-md-checkpoint"
VERSION = 1


def state_to_dict(state: State, integrator) -> Dict[str, Any]:
    """Plain-data form of a state (plus the integrator's parameters and extended variables)."""
    s, n = state.system, state.neighbors
    return {
        "positions": s.positions, "atomic_numbers": s.atomic_numbers, "cell": s.cell, "pbc": s.pbc,
        "system_index": s.system_index, "total_charge": getattr(s, "total_charge", None), "masses": state.masses, "velocities": state.velocities,
        "forces": state.forces, "potential_energy": state.potential_energy, "step": int(state.step),
        "time_fs": float(state.time_fs), "rng_state": state.rng.get_state(), "rng_device": str(state.rng.device),
        "fixed": state.fixed, "constrained_dof": int(state.constrained_dof), "stress": state.stress,
        "neighbors": {"cutoff_A": n.cutoff_A, "skin_A": n.skin_A, "index": n.edges.index, "shift": n.edges.shift,
                      "offsets": n.offsets, "reference_positions": n.reference_positions,
                      "reference_cell": n.reference_cell, "n_builds": int(n.n_builds), "backend": n.backend,
                      "core": n.core, "shell": n.shell},
        "integrator": dict(integrator.parameters()),
        "extended": integrator.extended_to_dict(state.extended) if state.extended is not None else None,
    }


def state_from_dict(data: Dict[str, Any], integrator, device: Optional[torch.device] = None) -> State:
    """Inverse of :func:`state_to_dict` (checks the integrator parameters match)."""
    saved = data["integrator"]
    if dict(saved) != dict(integrator.parameters()):
        raise ConfigError(f"the checkpoint was written by {saved} but the restart uses "
                          f"{integrator.parameters()}; restart with the same ensemble and parameters")
    move = (lambda t: t if t is None else t.to(device)) if device is not None else (lambda t: t)
    nb = data["neighbors"]
    rng = torch.Generator(device=data["rng_device"])
    rng.set_state(data["rng_state"])
    system = System(move(data["positions"]), move(data["atomic_numbers"]), move(data["cell"]),
                    move(data["pbc"]), move(data["system_index"]))
    if data.get("total_charge") is not None:
        system = system._replace(total_charge=move(data["total_charge"]))
    neighbors = NeighborState(float(nb["cutoff_A"]), float(nb["skin_A"]),
                              Edges(move(nb["index"]), move(nb["shift"])), move(nb["offsets"]),
                              move(nb["reference_positions"]), move(nb["reference_cell"]),
                              int(nb["n_builds"]), str(nb["backend"]), move(nb["core"]), move(nb["shell"]))
    extended = None if data["extended"] is None else integrator.extended_from_dict(data["extended"])
    return State(system=system, masses=move(data["masses"]), velocities=move(data["velocities"]),
                 forces=move(data["forces"]), potential_energy=move(data["potential_energy"]),
                 step=int(data["step"]), time_fs=float(data["time_fs"]), rng=rng, neighbors=neighbors,
                 fixed=move(data["fixed"]), constrained_dof=int(data["constrained_dof"]),
                 stress=move(data["stress"]), extended=extended)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a unique temp file in the same directory, fsync, then ``os.replace``
    (the temp file is removed if saving fails; ``path`` keeps its old content)."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def checkpoint_payload(state: State, integrator, reporters: Sequence = (),
                       forcefield_description: str = "") -> Dict[str, Any]:
    """What a checkpoint of ``state`` and the ``reporters``' restart data holds (plain data)."""
    return {"format": FORMAT, "version": VERSION, "state": state_to_dict(state, integrator),
            "reporters": {r.key: r.state_dict() for r in reporters},
            "forcefield": forcefield_description}


def save_checkpoint(path: str, state: State, integrator, reporters: Sequence = (),
                    forcefield_description: str = "") -> None:
    """Write a checkpoint of ``state`` and the ``reporters``' restart data to ``path``."""
    atomic_save(checkpoint_payload(state, integrator, reporters, forcefield_description), path)


def read_checkpoint(path: str, expected_format: str = FORMAT) -> Dict[str, Any]:
    """The raw checkpoint dictionary (validated format, ``expected_format`` by default a
    one-system checkpoint), or a clear error."""
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint {path!r} does not exist; give the path of a checkpoint written by "
                          "a previous run (e.g. OUTPUT/checkpoint.pt)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ConfigError(f"{path!r} is not a readable md checkpoint ({error})") from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise ConfigError(f"{path!r} is not an md checkpoint of this kind (format "
                          f"{data.get('format') if isinstance(data, dict) else None!r}, expected {expected_format!r}: "
                          "a batch of systems restarts from a batch checkpoint, one system from its own)")
    if data.get("version") != VERSION:
        raise ConfigError(f"{path!r} has checkpoint version {data.get('version')}, this md reads {VERSION}")
    return data


def load_checkpoint(path: str, integrator, reporters: Sequence = (),
                    device: Optional[torch.device] = None) -> State:
    """Restore the state from ``path`` and hand each reporter its saved restart data.

    Reporters are matched by ``key``; one absent from the checkpoint starts afresh.
    The integrator must have the same parameters as the one that wrote the checkpoint.
    """
    return restore(read_checkpoint(path), integrator, reporters, device)


def restore(data: Dict[str, Any], integrator, reporters: Sequence = (),
            device: Optional[torch.device] = None) -> State:
    """The state of a :func:`checkpoint_payload`; each reporter gets its saved restart data."""
    state = state_from_dict(data["state"], integrator, device)
    saved = data["reporters"]
    for reporter in reporters:
        if reporter.key in saved:
            reporter.load_state_dict(saved[reporter.key])
    return state
