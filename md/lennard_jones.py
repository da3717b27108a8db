"""A Lennard-Jones force field (pure torch, analytic forces and stress) for tests and demos.

Pair energy ``φ(r) = 4 ε [(σ/r)^12 − (σ/r)^6]`` for ``r < r_c``, optionally shifted by
``−φ(r_c)`` so the energy is continuous at the cutoff (the force still jumps there, as in
ASE's ``LennardJones(smooth=False)``), or multiplied by a C^∞ switching function between
``smooth_onset_A`` and ``r_c`` so the energy is infinitely differentiable everywhere — what
the shadow-Hamiltonian monitor needs to see a flat H̃ in a liquid, where pairs cross the
cutoff all the time (a C¹ switch leaves jumps in the higher derivatives that H̃ notices).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mlip.errors import ConfigError
from mlip.types import Edges, Prediction, System

from md.neighbor_cache import squared_lengths


class LennardJones:
    """Single-species Lennard-Jones pair potential.

    Args:
        epsilon_eV: well depth ε, eV (> 0).
        sigma_A: zero-crossing distance σ, Å (> 0).
        cutoff_A: interaction radius r_c, Å (> 0).
        shift: subtract φ(r_c) so the energy is continuous at the cutoff (ignored when
            ``smooth_onset_A`` is given, which makes it continuous anyway).
        smooth_onset_A: if given (0 < onset < cutoff), multiply φ by the C^∞ switching
            function ``s = g(1−x) / (g(1−x) + g(x))``, ``g(t) = exp(−1/t)``,
            ``x = (r − r_o)/(r_c − r_o)`` on [r_o, r_c] (1 below, 0 above).

    Example:
        >>> import ase.build, torch
        >>> from mlip import neighbor_list, system_from_atoms
        >>> lj = LennardJones(epsilon_eV=0.0104, sigma_A=3.40, cutoff_A=8.5)
        >>> s = system_from_atoms(ase.build.bulk("Ar", "fcc", a=5.26, cubic=True))
        >>> p = lj(s, neighbor_list(s, lj.cutoff), compute_stress=True)
        >>> p.energy.shape, p.forces.shape, p.stress.shape
        (torch.Size([1]), torch.Size([4, 3]), torch.Size([1, 3, 3]))
    """

    def __init__(self, epsilon_eV: float, sigma_A: float, cutoff_A: float, shift: bool = True,
                 smooth_onset_A: Optional[float] = None) -> None:
        for name, value in (("epsilon_eV", epsilon_eV), ("sigma_A", sigma_A), ("cutoff_A", cutoff_A)):
            if not float(value) > 0.0:
                raise ConfigError(f"LennardJones {name} must be > 0, got {value}")
        if smooth_onset_A is not None and not 0.0 < smooth_onset_A < cutoff_A:
            raise ConfigError(
                f"smooth_onset_A must lie in (0, cutoff_A={cutoff_A}) Å, got {smooth_onset_A}")
        self.epsilon_eV = float(epsilon_eV)
        self.sigma_A = float(sigma_A)
        self.cutoff = float(cutoff_A)
        self.shift = bool(shift)
        self.smooth_onset_A = None if smooth_onset_A is None else float(smooth_onset_A)
        self._energy_at_cutoff = float(self._bare(torch.tensor(self.cutoff**2, dtype=torch.float64))[0])

    def __repr__(self) -> str:
        return (f"LennardJones(epsilon_eV={self.epsilon_eV}, sigma_A={self.sigma_A}, "
                f"cutoff_A={self.cutoff}, shift={self.shift}, smooth_onset_A={self.smooth_onset_A})")

    def _bare(self, r2: Tensor):
        """(φ, (dφ/dr)/r) of the untruncated potential from r² (Å²): eV and eV/Å²."""
        s6 = (self.sigma_A**2 / r2) ** 3
        s12 = s6 * s6
        return 4.0 * self.epsilon_eV * (s12 - s6), -24.0 * self.epsilon_eV * (2.0 * s12 - s6) / r2

    def pair(self, r: Tensor):
        """(φ(r), dφ/dr) as used inside the cutoff, eV and eV/Å (r in Å)."""
        phi, dphi_over_r = self._pair_r2(r * r)
        return phi, dphi_over_r * r

    def _pair_r2(self, r2: Tensor):
        phi, dphi_over_r = self._bare(r2)
        if self.smooth_onset_A is not None:
            r = torch.sqrt(r2)
            width = self.cutoff - self.smooth_onset_A
            inside = (r > self.smooth_onset_A) & (r < self.cutoff)
            x = ((r - self.smooth_onset_A) / width).clamp(1e-3, 1.0 - 1e-3)
            a, b = torch.exp(-1.0 / (1.0 - x)), torch.exp(-1.0 / x)
            sw = torch.where(inside, a / (a + b), (r <= self.smooth_onset_A).to(r.dtype))
            dsw = torch.where(inside, -a * b * (1.0 / (1.0 - x) ** 2 + 1.0 / x**2) / ((a + b) ** 2 * width), 0.0)
            return phi * sw, dphi_over_r * sw + phi * dsw / r
        if self.shift:
            phi = phi - self._energy_at_cutoff
        return phi, dphi_over_r

    def __call__(self, system: System, edges: Edges, compute_stress: bool = False) -> Prediction:
        """Energy (n_systems,) eV, forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å^3."""
        positions = system.positions
        n_systems = system.cell.shape[0]
        receiver, sender = edges.index[0], edges.index[1]
        shift = edges.shift.to(positions.dtype)
        if n_systems == 1:
            offset = shift @ system.cell[0]
        else:
            cell_per_edge = system.cell.index_select(0, system.system_index.index_select(0, receiver))
            offset = torch.bmm(shift.unsqueeze(1), cell_per_edge).squeeze(1)
        vectors = positions.index_select(0, sender) - positions.index_select(0, receiver) + offset
        r2 = squared_lengths(vectors)
        inside = r2 < self.cutoff**2
        if bool(inside.all()):  # the usual case: md hands over exact-cutoff edges
            phi, dphi_over_r = self._pair_r2(r2)
        else:
            phi, dphi_over_r = self._pair_r2(torch.where(inside, r2, self.cutoff**2))
            phi = torch.where(inside, phi, 0.0)
            dphi_over_r = torch.where(inside, dphi_over_r, 0.0)
        atomic = torch.zeros(positions.shape[0], dtype=positions.dtype, device=positions.device)
        atomic = atomic.index_add(0, receiver, 0.5 * phi)
        energy = torch.zeros(n_systems, dtype=positions.dtype, device=positions.device)
        energy = energy.index_add(0, system.system_index, atomic)
        pair_force = dphi_over_r.unsqueeze(1) * vectors  # on the receiver, eV/Å
        forces = torch.zeros_like(positions).index_add(0, receiver, pair_force)
        stress = None
        if compute_stress:
            volume = torch.linalg.det(system.cell).abs()
            outer = 0.5 * pair_force.unsqueeze(2) * vectors.unsqueeze(1)
            virial = torch.zeros((n_systems, 3, 3), dtype=positions.dtype, device=positions.device)
            virial = virial.index_add(0, system.system_index.index_select(0, receiver), outer)
            stress = virial / volume.clamp_min(1e-300)[:, None, None]
        return Prediction(energy=energy, forces=forces, stress=stress, atomic_energies=atomic)
