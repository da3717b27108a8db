"""Damped Coulomb electrostatics of per-atom charges: direct sum (finite) or Ewald (periodic).

Energies in eV, charges in e, lengths in Å, potentials φ in V (= eV/e)::

    E = ½ Σ_i q_i φ_i,      φ_i = k_e Σ'_{j, n} q_j S(r_ijn) / r_ijn,      k_e = 14.3996 eV·Å

The prime excludes j = i in the home image n = 0. ``S(r)`` is the C² switch of
:mod:`mlip.physics.switching` from 0 at ``r_on`` to 1 at ``r_off``: inside the short-range model's
cutoff the Coulomb interaction fades out smoothly (no divergence at r → 0, since S/r ~ r², and
no double counting with the local network, which learns what is left there); beyond ``r_off``
it is the bare 1/r. ``r_off <= 0`` switches the damping off (bare point charges).

* A system with ``pbc`` all False: direct sum over its pairs (n = 0 only).
* A system with ``pbc`` all True: Ewald summation (:mod:`mlip.physics.ewald`), triclinic cells
  included, accuracy parameters chosen from ``tolerance``.
* Mixed periodicity (slabs, wires): refused with :class:`~mlip.errors.InvalidSystemError`.

Each atom's share of the energy is ½ q_i φ_i, so the sum of per-atom energies is the energy,
and forces and stress come from the ONE autograd wrapper (:mod:`mlip.models.force_model`).
Everything here is TorchScript-compatible.

Example (a Na⁺ Cl⁻ pair 10 Å apart, no damping: E = −k_e / 10 Å):
    >>> import torch
    >>> from mlip.types import System
    >>> s = System(torch.tensor([[0., 0, 0], [10., 0, 0]], dtype=torch.float64), torch.tensor([11, 17]),
    ...            torch.zeros(1, 3, 3, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.bool), torch.zeros(2, dtype=torch.int64))
    >>> e = coulomb_atomic_energies(s, torch.tensor([1.0, -1.0], dtype=torch.float64), 0.0, 0.0, 1e-6, 10.0)
    >>> round(float(e.sum()), 5)
    -1.43996
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor

from mlip.errors import InvalidSystemError
from mlip.physics.ewald import ewald_potential
from mlip.physics.switching import switch_on
from mlip.types import System

#: Coulomb constant e²/(4π ε0), eV·Å (CODATA 2014 via ASE, as :data:`mlip.units.COULOMB_EV_A`).
COULOMB_EV_A: float = 14.399645351950548


@torch.jit.unused
def _raise_invalid(message: str) -> None:
    raise InvalidSystemError(message)


def invalid_system(message: str) -> None:
    """Raise :class:`InvalidSystemError` (eager) or a TorchScript error with the same message."""
    if torch.jit.is_scripting():
        raise RuntimeError(message)
    else:
        _raise_invalid(message)


def damped_inverse_distance(r: Tensor, r_on: float, r_off: float) -> Tensor:
    """S(r)/r in 1/Å (bare 1/r when ``r_off <= 0``)."""
    if r_off <= 0.0:
        return 1.0 / r
    return switch_on(r, r_on, r_off) / r


def system_total_charge(system: System) -> Tensor:
    """(n_systems,) total charge in e: ``system.total_charge`` or zeros (neutral) if not stated."""
    q = system.total_charge
    if q is None:
        return torch.zeros(system.cell.shape[0], dtype=system.positions.dtype, device=system.positions.device)
    return q.to(system.positions.dtype)


def system_starts(system_index: Tensor, n_systems: int) -> Tensor:
    """(n_systems + 1,) offsets of each system's atoms (atoms are sorted by system)."""
    counts = torch.bincount(system_index, minlength=n_systems)
    return torch.cat([torch.zeros(1, dtype=torch.int64, device=counts.device), torch.cumsum(counts, 0)])


def direct_potential(positions: Tensor, charges: Tensor, pairs: Tensor, r_on: float, r_off: float) -> Tensor:
    """φ_i / k_e = Σ_j q_j S(r_ij)/r_ij over ``pairs`` (2, n_pairs) with i < j, in e/Å."""
    phi = torch.zeros_like(charges)
    if pairs.shape[1] == 0:
        return phi
    i, j = pairs[0], pairs[1]
    r = torch.linalg.norm(positions[j] - positions[i], dim=1)
    kernel = damped_inverse_distance(r, r_on, r_off)
    return phi.index_add(0, i, charges[j] * kernel).index_add(0, j, charges[i] * kernel)


def electrostatic_potential(
    system: System, charges: Tensor, r_on: float, r_off: float, tolerance: float, real_space_cutoff: float
) -> Tensor:
    """φ (n_atoms,) in V of every atom due to all others (and their periodic images).

    Args:
        system: batched structures; each is either finite (pbc all False) or fully periodic.
        charges: (n_atoms,) e.
        r_on, r_off: damping switch radii, Å (``r_off <= 0``: no damping).
        tolerance: relative accuracy of Ewald sums (e.g. 1e-6).
        real_space_cutoff: Ewald real-space cutoff, Å (raised to ``r_off`` if smaller).
    """
    n_sys = system.cell.shape[0]
    starts = system_starts(system.system_index, n_sys)
    phi = torch.zeros_like(charges)
    periodic = system.pbc.any(dim=1)
    fully = system.pbc.all(dim=1)
    finite_pairs: List[Tensor] = []
    for s in range(n_sys):
        lo = int(starts[s])
        hi = int(starts[s + 1])
        if hi - lo == 0:
            continue
        if bool(periodic[s]) and not bool(fully[s]):
            pbc_s: List[bool] = system.pbc[s].tolist()
            invalid_system(
                f"system {s}: Ewald summation needs all three directions periodic, got pbc="
                f"{pbc_s}; for a slab or wire use a fully periodic cell with vacuum "
                "padding along the open direction(s), or pbc=False for a finite system"
            )
        if bool(fully[s]):
            phi_s = ewald_potential(
                system.positions[lo:hi], charges[lo:hi], system.cell[s], r_on, r_off, tolerance, real_space_cutoff
            )
            phi = phi.index_add(0, torch.arange(lo, hi, device=phi.device), phi_s)
        elif hi - lo > 1:
            t = torch.triu_indices(hi - lo, hi - lo, 1, device=charges.device)
            finite_pairs.append(t + lo)
    if len(finite_pairs) > 0:
        phi = phi + direct_potential(system.positions, charges, torch.cat(finite_pairs, dim=1), r_on, r_off)
    return 14.399645351950548 * phi  # k_e = COULOMB_EV_A (a literal: TorchScript cannot close over globals)


def coulomb_atomic_energies(
    system: System, charges: Tensor, r_on: float, r_off: float, tolerance: float, real_space_cutoff: float
) -> Tensor:
    """Per-atom Coulomb energies ½ q_i φ_i (n_atoms,) in eV (see :func:`electrostatic_potential`)."""
    return 0.5 * charges * electrostatic_potential(system, charges, r_on, r_off, tolerance, real_space_cutoff)
