"""Martyna–Tobias–Klein (MTK) NPT: Nosé–Hoover chains on the particles and on the barostat.

Equations of motion: Martyna, Tobias & Klein, J. Chem. Phys. 101, 4177 (1994) and Martyna,
Tuckerman, Tobias & Klein, Mol. Phys. 87, 1117 (1996); measure-preserving Trotter integrator
of Tuckerman, Alejandre, López-Rendón, Jochim & Martyna, J. Phys. A 39, 5629 (2006). Row
vectors (positions, cell rows); v_g the symmetric 3×3 cell strain rate (1/fs), N_f kinetic
degrees of freedom, P the instantaneous pressure tensor (:mod:`md.pressure`), P₀ the target,
v_ξ₁ the first particle-thermostat velocity:

    ṙ   = v + r v_g                      ḣ = h v_g          (h: the cell)
    v̇   = F/m − v (v_g + tr(v_g)/N_f · 1) − v_ξ₁ v
    G   = V (P − P₀ 1) + (2K/N_f) 1        (eV)
    W v̇_g = project(G) − W v_η₁ v_g

``project``: isotropic v_g = v_ε 1 with W v̇_ε = tr G (one barostat degree of freedom);
anisotropic: the diagonal of G (3); triclinic: its symmetric part (6; no rigid rotation).
Masses: W = (N_f + 3) kT τ_b² (isotropic; a third of it for the flexible cells, MTK 1996),
particle chain Q₁ = N_f kT τ², Q_j = kT τ²; barostat chain Ω₁ = n_b kT τ_b², Ω_j = kT τ_b²
(n_b barostat degrees of freedom, τ ``tau_fs``, τ_b ``barostat_tau_fs``).

One step (h = ``timestep_fs``; each chain as in :mod:`md.nose_hoover_chain`):

    chains(h/2) · v_g(h/2) · v(h/2) · [r, h](h) · forces · v(h/2) · v_g(h/2) · chains(h/2)

where v(h/2) solves v̇ = F/m − v c, c = v_g + tr(v_g)/N_f, exactly in the eigenbasis of c
(v ← v e^{−c h/2} + (h/2)(F/m) e^{−c h/4} sinhc(c h/4)), and [r, h](h) solves ṙ = v + r v_g
(r ← r e^{v_g h} + h v e^{v_g h/2} sinhc(v_g h/2), h ← h e^{v_g h}).

Conserved quantity (no stochastic term; drifts only by the integration error):

    H' = K + U + P₀ V + ½ W |v_g|² + Σ ½ Q_j v_ξj² + N_f kT ξ₁ + kT Σ_{j≥2} ξ_j
         + Σ ½ Ω_j v_ηj² + n_b kT η₁ + kT Σ_{j≥2} η_j

(|v_g|² = v_ε² for the isotropic cell, the Frobenius norm otherwise.) The isotropic version
samples the NPT ensemble with the volume measure dV (MTK 1994).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

from md.barostat import ConstantPressure, check_npt_state, finish_move, pending_move
from md.cell_flexibility import BAROSTAT_DOF, project
from md.forcefield import Evaluation
from md.integrator import Pending
from md.nose_hoover_chain import _YOSHIDA, propagate_chain
from md.pressure import cell_volume_A3, pressure_tensor_eV_per_A3
from md.state import State, degrees_of_freedom, kinetic_energy_eV


class MTKVariables(NamedTuple):
    """Extended variables (float64): particle chain ``xi`` (M,), ``v_xi`` (M,) 1/fs,
    ``mass_eV_fs2`` (M,); barostat chain ``eta``, ``v_eta`` 1/fs, ``eta_mass_eV_fs2`` (M,);
    cell strain rate ``strain_rate_per_fs`` (3, 3) 1/fs; barostat mass ``barostat_mass_eV_fs2`` (0-d)."""

    xi: Tensor
    v_xi: Tensor
    mass_eV_fs2: Tensor
    eta: Tensor
    v_eta: Tensor
    eta_mass_eV_fs2: Tensor
    strain_rate_per_fs: Tensor
    barostat_mass_eV_fs2: Tensor


def sinhc(x: Tensor) -> Tensor:
    """sinh(x)/x, with its Taylor series near 0 (relative error < 1e-16 for |x| < 1e-3)."""
    small = x.abs() < 1e-3
    safe = torch.where(small, torch.ones_like(x), x)
    x2 = x * x
    return torch.where(small, 1.0 + x2 / 6.0 * (1.0 + x2 / 20.0), torch.sinh(safe) / safe)


def barostat_kinetic_eV(strain_rate: Tensor, mass: float, flexibility: str) -> float:
    """½ W v_ε² (isotropic) or ½ W |v_g|² (Frobenius), eV."""
    if flexibility == "isotropic":
        return 0.5 * mass * float(strain_rate[0, 0]) ** 2
    return 0.5 * mass * float((strain_rate * strain_rate).sum())


def cell_force_eV(state: State, velocities: Tensor, p: "MTK", n_dof: int) -> Tensor:
    """project(G), G = V (P − P₀ 1) + (2K/N_f) 1 at ``state``'s stress and cell with
    ``velocities``; the isotropic projection is tr(G) · 1. eV, (3, 3) float64."""
    moved = state.replace(velocities=velocities)
    volume = float(cell_volume_A3(state.system.cell[0]))
    eye = torch.eye(3, dtype=torch.float64)
    two_k = 2.0 * float(kinetic_energy_eV(moved))
    pressure = pressure_tensor_eV_per_A3(moved).cpu()  # the barostat's 3×3 algebra runs on the CPU
    force = volume * (pressure - p.pressure_eV_per_A3 * eye) + two_k / max(n_dof, 1) * eye
    return project(force, p.flexibility) * (3.0 if p.flexibility == "isotropic" else 1.0)


def _eigen(matrix: Tensor, diagonal: bool) -> Tuple[Tensor, Optional[Tensor]]:
    if diagonal:
        return torch.diagonal(matrix), None
    values, vectors = torch.linalg.eigh(0.5 * (matrix + matrix.T))
    return values, vectors


def velocity_half_step(velocities: Tensor, forces: Tensor, acceleration: Tensor, strain_rate: Tensor,
                       n_dof: int, h_half: float, diagonal: bool) -> Tensor:
    """Exact solution of v̇ = F/m − v c over ``h_half`` fs, c = v_g + tr(v_g)/N_f · 1 (Å/fs)."""
    friction = strain_rate + torch.trace(strain_rate) / max(n_dof, 1) * torch.eye(3, dtype=strain_rate.dtype)
    rates, basis = _eigen(friction, diagonal)
    accel = forces * acceleration
    if basis is not None:
        basis = basis.to(velocities)
        velocities, accel = velocities @ basis, accel @ basis
    rates = rates.to(velocities)
    new = velocities * torch.exp(-rates * h_half) + accel * (h_half * torch.exp(-rates * (0.5 * h_half))
                                                             * sinhc(rates * (0.5 * h_half)))
    return new if basis is None else new @ basis.T


def position_step(positions: Tensor, velocities: Tensor, cell: Tensor, strain_rate: Tensor, h: float,
                  diagonal: bool) -> Tuple[Tensor, Tensor]:
    """Exact solution of ṙ = v + r v_g, ḣ = h v_g over ``h`` fs: new positions and cell (Å)."""
    rates, basis = _eigen(strain_rate, diagonal)
    rates = rates.to(positions)
    grow, drift = torch.exp(rates * h), h * torch.exp(rates * (0.5 * h)) * sinhc(rates * (0.5 * h))
    if basis is None:
        return positions * grow + velocities * drift, cell * grow
    basis = basis.to(positions)
    new = (positions @ basis) * grow + (velocities @ basis) * drift
    return new @ basis.T, ((cell @ basis) * grow) @ basis.T


def init(state: State, p: "MTK") -> State:
    """Check the state; chains and barostat at rest with the masses of the module docstring."""
    check_npt_state(state, "MTK")
    kT = units.BOLTZMANN_EV_PER_K * p.temperature_K
    n_dof = max(degrees_of_freedom(state), 1)
    n_b = BAROSTAT_DOF[p.flexibility]
    m = p.chain_length
    q = [n_dof * kT * p.tau_fs**2] + [kT * p.tau_fs**2] * (m - 1)
    omega = [n_b * kT * p.barostat_tau_fs**2] + [kT * p.barostat_tau_fs**2] * (m - 1)
    w = (n_dof + 3) * kT * p.barostat_tau_fs**2 / (1.0 if p.flexibility == "isotropic" else 3.0)
    zeros = torch.zeros(m, dtype=torch.float64)
    extended = MTKVariables(zeros, zeros.clone(), torch.tensor(q, dtype=torch.float64), zeros.clone(),
                            zeros.clone(), torch.tensor(omega, dtype=torch.float64),
                            torch.zeros((3, 3), dtype=torch.float64), torch.tensor(w, dtype=torch.float64))
    return state.replace(extended=extended)


def _chains(velocities: Tensor, strain_rate: Tensor, chains: list, kinetic_eV: float, n_dof: int,
            p: "MTK", h_half: float) -> Tuple[Tensor, Tensor, list]:
    """Both chains over ``h_half`` fs (they act on disjoint variables, so they commute)."""
    kT = units.BOLTZMANN_EV_PER_K * p.temperature_K
    xi, v_xi, q, eta, v_eta, omega, w = chains
    two_kb = 2.0 * barostat_kinetic_eV(strain_rate, w, p.flexibility)
    scale_b, eta, v_eta = propagate_chain(two_kb, BAROSTAT_DOF[p.flexibility], kT, eta, v_eta, omega, h_half,
                                          p.n_yoshida)
    scale, xi, v_xi = propagate_chain(2.0 * kinetic_eV, n_dof, kT, xi, v_xi, q, h_half, p.n_yoshida)
    return velocities * scale, strain_rate * scale_b, [xi, v_xi, q, eta, v_eta, omega, w]


def begin_step(state: State, p: "MTK") -> Pending:
    """chains(h/2) · v_g(h/2) · v(h/2) · [r, h](h): everything before the force call."""
    h = p.timestep_fs
    n_dof = degrees_of_freedom(state)
    diagonal = p.flexibility != "triclinic"
    e = state.extended
    chains = [e.xi.tolist(), e.v_xi.tolist(), e.mass_eV_fs2.tolist(), e.eta.tolist(), e.v_eta.tolist(),
              e.eta_mass_eV_fs2.tolist(), float(e.barostat_mass_eV_fs2)]
    v, rate, chains = _chains(state.velocities, e.strain_rate_per_fs, chains, float(kinetic_energy_eV(state)),
                              n_dof, p, 0.5 * h)
    rate = rate + (0.5 * h / chains[-1]) * cell_force_eV(state, v, p, n_dof)
    v = velocity_half_step(v, state.forces, state.acceleration, rate, n_dof, 0.5 * h, diagonal)
    positions, cell = position_step(state.positions, v, state.system.cell, rate, h, diagonal)
    return pending_move(state, positions, cell, v, (n_dof, rate, chains))


def finish_step(first: Pending, result: Evaluation, p: "MTK") -> State:
    """v(h/2) · v_g(h/2) · chains(h/2) with the new forces and stress."""
    h = p.timestep_fs
    n_dof, rate, chains = first.carry
    new = finish_move(first, result, h, 0.0, "MTK")
    v = velocity_half_step(first.velocities, new.forces, new.acceleration, rate, n_dof, 0.5 * h,
                           p.flexibility != "triclinic")
    rate = rate + (0.5 * h / chains[-1]) * cell_force_eV(new, v, p, n_dof)
    v, rate, chains = _chains(v, rate, chains, float(units.kinetic_energy_eV(new.masses, v)), n_dof, p, 0.5 * h)
    e = first.state.extended
    xi, v_xi, _, eta, v_eta, _, _ = (torch.tensor(c, dtype=torch.float64) for c in chains)
    extended = MTKVariables(xi, v_xi, e.mass_eV_fs2, eta, v_eta, e.eta_mass_eV_fs2, rate, e.barostat_mass_eV_fs2)
    return new.replace(velocities=v, extended=extended)


def conserved_energy_eV(state: State, p: "MTK") -> float:
    """H' of the module docstring, eV."""
    kT = units.BOLTZMANN_EV_PER_K * p.temperature_K
    e = state.extended
    volume = float(cell_volume_A3(state.system.cell[0]))
    total = float(kinetic_energy_eV(state) + state.potential_energy) + p.pressure_eV_per_A3 * volume
    total += barostat_kinetic_eV(e.strain_rate_per_fs, float(e.barostat_mass_eV_fs2), p.flexibility)
    total += 0.5 * float((e.mass_eV_fs2 * e.v_xi**2).sum()) + 0.5 * float((e.eta_mass_eV_fs2 * e.v_eta**2).sum())
    total += degrees_of_freedom(state) * kT * float(e.xi[0]) + kT * float(e.xi[1:].sum())
    total += BAROSTAT_DOF[p.flexibility] * kT * float(e.eta[0]) + kT * float(e.eta[1:].sum())
    return total


@dataclass(frozen=True)
class MTK(ConstantPressure):
    """NPT by Martyna–Tobias–Klein with Nosé–Hoover chains (deterministic).

    Args:
        timestep_fs: time step, fs (> 0).
        temperature_K: target temperature, K (> 0).
        pressure_GPa: target (hydrostatic) pressure, GPa (negative: tension).
        tau_fs: particle thermostat period, fs (> 0).
        barostat_tau_fs: barostat period τ_b, fs (> 0; ~1000 fs).
        chain_length: length M of both chains (>= 1).
        n_yoshida: Suzuki–Yoshida order of the chain updates (1, 3 or 5).
        flexibility: ``isotropic``, ``anisotropic`` or ``triclinic`` (:mod:`md.cell_flexibility`).
    """

    timestep_fs: float
    temperature_K: float
    pressure_GPa: float
    tau_fs: float = 100.0
    barostat_tau_fs: float = 1000.0
    chain_length: int = 3
    n_yoshida: int = 3
    flexibility: str = "isotropic"
    barostat = "mtk"

    def __post_init__(self) -> None:
        self._check_fields((("timestep_fs", "fs"), ("temperature_K", "K"), ("tau_fs", "fs"), ("barostat_tau_fs", "fs")))
        if isinstance(self.chain_length, bool) or not isinstance(self.chain_length, int) or self.chain_length < 1:
            raise ConfigError(f"chain_length must be an integer >= 1, got {self.chain_length!r}")
        if self.n_yoshida not in _YOSHIDA:
            raise ConfigError(f"n_yoshida must be one of {sorted(_YOSHIDA)}, got {self.n_yoshida!r}")

    def init(self, state: State) -> State:
        return init(state, self)

    def begin_step(self, state: State) -> Pending:
        if not isinstance(state.extended, MTKVariables):
            raise ConfigError("this state was not initialised for MTK: call integrator.init(state) first")
        return begin_step(state, self)

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        return finish_step(first, result, self)

    def conserved_energy_eV(self, state: State) -> float:
        return conserved_energy_eV(state, self)

    def parameters(self) -> Dict[str, Any]:
        return {"ensemble": self.name, "barostat": self.barostat, "timestep_fs": self.timestep_fs,
                "temperature_K": self.temperature_K, "pressure_GPa": self.pressure_GPa, "tau_fs": self.tau_fs,
                "barostat_tau_fs": self.barostat_tau_fs, "chain_length": self.chain_length,
                "n_yoshida": self.n_yoshida, "flexibility": self.flexibility}

    def extended_to_dict(self, extended: MTKVariables) -> Dict[str, Tensor]:
        return extended._asdict()

    def extended_from_dict(self, data: Dict[str, Tensor]) -> MTKVariables:
        return MTKVariables(*(data[name] for name in MTKVariables._fields))
