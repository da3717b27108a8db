"""What the constant-pressure integrators share: the checks a state must pass before a run,
and the two halves of a step around its force call when the cell moves too (positions *and*
cell change before the call; the stress is needed at every step).

A cell change h → h μ rescales every (unwrapped) position with it, r → r μ, so an atom that
has crossed the box many times stays consistent with its periodic images; the neighbour-list
cache accounts for the strain in its rebuild test (:mod:`md.neighbor_cache`).
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple

from torch import Tensor

from mlip.errors import ConfigError

from md.cell_flexibility import canonical_flexibility
from md.forcefield import Evaluation, ForceField
from md.integrator import Pending, check_positive, evaluate_pending, finish_advance
from md.pressure import cell_volume_A3, check_pressure_GPa, pressure_GPa_to_eV_per_A3
from md.state import State


class ConstantPressure:
    """What the NPT integrators' frozen dataclasses share (a mixin without fields): the
    ensemble name, the stress at every step, the target pressure in eV/Å^3, the checks of
    their parameters and a ``step`` that is exactly begin → evaluate (with stress) → finish."""

    name = "npt"
    shadow_applies = False
    needs_stress = True

    @property
    def pressure_eV_per_A3(self) -> float:
        """Target pressure, eV/Å^3."""
        return pressure_GPa_to_eV_per_A3(self.pressure_GPa)

    def _check_fields(self, positive: Sequence[Tuple[str, str]]) -> None:
        """Validate (and normalise, in place) the fields named in ``positive`` (name, unit),
        ``pressure_GPa`` and ``flexibility``; for ``__post_init__``."""
        for field, unit in positive:
            object.__setattr__(self, field, check_positive(field, getattr(self, field), unit))
        object.__setattr__(self, "pressure_GPa", check_pressure_GPa(self.pressure_GPa))
        object.__setattr__(self, "flexibility", canonical_flexibility(self.flexibility))

    def step(self, state: State, forcefield: ForceField, compute_stress: bool = False) -> State:
        """One step; the stress is evaluated whatever ``compute_stress`` says."""
        first = self.begin_step(state)
        return self.finish_step(first, evaluate_pending(first, forcefield, True))


def check_npt_state(state: State, integrator_name: str) -> None:
    """Raise a ConfigError naming the fix when ``state`` cannot run at constant pressure:
    not periodic in all three directions (vacuum, slabs, wires), a degenerate cell, fixed
    atoms, a batch, or a force field that returned no stress for a periodic cell."""
    system = state.system
    if system.cell.shape[0] != 1:
        raise ConfigError(f"{integrator_name} runs one structure; got a batch of {system.cell.shape[0]}")
    pbc = [bool(x) for x in system.pbc.reshape(-1).tolist()]
    if not all(pbc):
        raise ConfigError(f"{integrator_name} (constant pressure) needs a cell periodic in all three "
                          f"directions, this structure has pbc={pbc}: a molecule, cluster or slab has no "
                          "volume to control; run it at constant volume (nve, bussi, langevin, nose-hoover)")
    if not float(cell_volume_A3(system.cell[0])) > 0.0:
        raise ConfigError(f"{integrator_name} needs a cell of non-zero volume; this cell is degenerate "
                          f"({system.cell[0].tolist()} Å)")
    if state.fixed is not None:
        raise ConfigError(f"{integrator_name} rescales every position with the cell, which fixed atoms "
                          "cannot follow; drop the fixed atoms or run at constant volume")
    if state.stress is None:
        raise ConfigError(f"{integrator_name} needs the stress, but the force field returned none for this "
                          "periodic cell (an external field such as md.Harmonic has no stress); use a force "
                          "field that computes stress (md.LennardJones, an mlip potential) or run at "
                          "constant volume")


def pending_move(state: State, positions: Tensor, cell: Tensor, velocities: Tensor, carry: Any) -> Pending:
    """The first half of a constant-pressure step ends at new ``positions`` (Å) in a new ``cell``
    ((1, 3, 3), Å) with ``velocities`` (Å/fs) waiting for the second half."""
    return Pending(state, state.system._replace(positions=positions, cell=cell), velocities, carry)


def finish_move(first: Pending, result: Evaluation, timestep_fs: float, final_kick_fs: float,
                integrator_name: str) -> State:
    """The state one step later (:func:`md.integrator.finish_advance`), after checking that the
    evaluation carries the stress a barostat needs at every step."""
    if result.stress is None:
        raise ConfigError(f"{integrator_name} needs the stress at every step, but the evaluation has none; "
                          "use a force field that computes stress (and, in a batch, ask for it for this "
                          "system: the integrator's needs_stress is True) or run at constant volume")
    return finish_advance(first, result, timestep_fs, final_kick_fs)
