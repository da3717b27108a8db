"""The force-field protocol md runs with, and the one call path that evaluates it.

A force field is any object with

* ``cutoff: float`` — interaction radius in Å (0 when it needs no edges), and
* ``__call__(system, edges, compute_stress) -> Prediction`` — energy (n_systems,) eV,
  forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å^3 or None.

Optional attributes md honours when present:

* ``atomic_numbers`` — the elements it knows (checked before a run starts),
* ``dtype`` — the floating-point type it evaluates in (positions are cast to it; results are
  cast back to the state's dtype, e.g. a float32 model under a float64 integrator).

md never imports model code: a saved mlip ``Potential`` satisfies this protocol, and so do
:class:`md.LennardJones` and :class:`md.Harmonic`.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor

from mlip.errors import SimulationError
from mlip.types import Edges, Prediction, System

from md import neighbor_cache
from md.neighbor_cache import NeighborState


@runtime_checkable
class ForceField(Protocol):
    """``cutoff`` (Å) plus ``(System, Edges, compute_stress) -> Prediction`` (eV, eV/Å)."""

    cutoff: float

    def __call__(self, system: System, edges: Edges, compute_stress: bool) -> Prediction:
        ...


class Evaluation(NamedTuple):
    """Result of one force evaluation in the state's dtype.

    Attributes:
        energy: 0-d potential energy, eV.
        forces: (n_atoms, 3) eV/Å.
        stress: (3, 3) eV/Å^3 or None.
        neighbors: the neighbour cache after this evaluation (rebuilt if needed).
    """

    energy: Tensor
    forces: Tensor
    stress: Optional[Tensor]
    neighbors: NeighborState


def known_atomic_numbers(forcefield: ForceField) -> Optional[Sequence[int]]:
    """The elements a force field declares it knows, or None (any element)."""
    known = getattr(forcefield, "atomic_numbers", None)
    if known is None:
        return None
    return [int(z) for z in known]


def in_forcefield_dtype(forcefield: ForceField, system: System) -> System:
    """``system`` with positions and cell cast to the force field's declared ``dtype`` (if it
    declares one and it differs); md keeps its own state in its own dtype."""
    ff_dtype = getattr(forcefield, "dtype", None)
    if isinstance(ff_dtype, torch.dtype) and ff_dtype != system.positions.dtype:
        return system._replace(positions=system.positions.to(ff_dtype), cell=system.cell.to(ff_dtype))
    return system


def evaluate(forcefield: ForceField, system: System, neighbors: NeighborState,
             compute_stress: bool = False) -> Evaluation:
    """Energy (eV), forces (eV/Å) and optionally stress (eV/Å^3) at ``system.positions``.

    Edges come from the skin-cached list filtered to the exact cutoff. Stress is only asked
    for when the system is periodic in all three directions.
    """
    edges, neighbors = neighbor_cache.update(neighbors, system)
    dtype = system.positions.dtype
    call_system = in_forcefield_dtype(forcefield, system)
    want_stress = bool(compute_stress) and bool(system.pbc.all())
    prediction = forcefield(call_system, edges, want_stress)
    energy = prediction.energy.detach().to(dtype).sum()
    forces = prediction.forces.detach().to(dtype)
    if forces.shape != system.positions.shape:
        raise SimulationError(
            f"the force field returned forces of shape {tuple(forces.shape)} for "
            f"{tuple(system.positions.shape)} positions; it must return one 3-vector per atom"
        )
    stress = None
    if want_stress and prediction.stress is not None:
        stress = prediction.stress.detach().to(dtype).reshape(-1, 3, 3)[0]
    return Evaluation(energy, forces, stress, neighbors)


def describe(forcefield: ForceField) -> str:
    """A short human-readable description (for logs and checkpoints)."""
    return f"{type(forcefield).__name__}(cutoff={float(forcefield.cutoff):g} Å)"


def check_is_forcefield(forcefield: object) -> float:
    """Raise a clear TypeError unless ``forcefield`` follows the protocol; returns its cutoff (Å)."""
    cutoff = getattr(forcefield, "cutoff", None)
    if not callable(forcefield) or cutoff is None:
        raise TypeError(
            f"{type(forcefield).__name__} is not a force field: md needs an object with a "
            "`cutoff` in Å and `__call__(system, edges, compute_stress) -> Prediction` "
            "(e.g. md.LennardJones, md.Harmonic or a loaded mlip Potential)"
        )
    return float(cutoff)
