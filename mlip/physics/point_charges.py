"""Fixed per-element point charges with damped Coulomb interaction (a classical baseline).

    e_i = ½ q_{Z_i} φ_i,   φ from :func:`mlip.physics.coulomb.electrostatic_potential`

Charges (e) per element must make every system's total equal its stated total charge (default
0); otherwise the term raises :class:`~mlip.errors.InvalidSystemError` — fixed charges cannot
absorb an excess. Use the learned charge head (``ModelConfig.long_range = "coulomb"``) for
environment-dependent charges.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor, nn

from mlip.physics.coulomb import coulomb_atomic_energies, invalid_system, system_total_charge
from mlip.types import Edges, System


class PointCharges(nn.Module):
    """Fixed-charge Coulomb term ``forward(system, edges) -> (n_atoms,)`` eV (edges unused).

    Args:
        atomic_numbers, charges: elements and their charges (e), same order.
        r_on, r_off: damping switch radii, Å (``r_off = 0``: bare Coulomb).
        tolerance: Ewald relative accuracy; real_space_cutoff: Ewald real-space cutoff, Å.
    """

    def __init__(self, atomic_numbers: Sequence[int], charges: Sequence[float], r_on: float = 0.0, r_off: float = 0.0,
                 tolerance: float = 1e-6, real_space_cutoff: float = 10.0):
        super().__init__()
        table = torch.zeros(119, dtype=torch.float64)
        for z, q in zip(atomic_numbers, charges):
            table[int(z)] = float(q)
        self.register_buffer("charge_table", table, persistent=False)
        self.r_on, self.r_off = float(r_on), float(r_off)
        self.tolerance, self.real_space_cutoff = float(tolerance), float(real_space_cutoff)
        self.cutoff = 0.0  # needs no edges

    def forward(self, system: System, edges: Edges) -> Tensor:
        q = self.charge_table.to(system.positions.dtype)[system.atomic_numbers]
        n_sys = system.cell.shape[0]
        total = torch.zeros(n_sys, dtype=q.dtype, device=q.device).index_add(0, system.system_index, q)
        stated = system_total_charge(system)
        if bool((torch.abs(total - stated) > 1e-6).any()):
            got: List[float] = total.tolist()
            want: List[float] = stated.tolist()
            invalid_system(
                f"fixed point charges sum to {got} e per system but the stated total charge is "
                f"{want} e; state the total charge of charged systems "
                "(atoms.info['total_charge'] / data.keys.total_charge) or fix the structure"
            )
        return coulomb_atomic_energies(system, q, self.r_on, self.r_off, self.tolerance, self.real_space_cutoff)
