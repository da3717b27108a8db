"""Stochastic cell rescaling (NPT) with stochastic velocity rescaling (Bussi) as thermostat.

Isotropic: Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020); anisotropic and triclinic:
Del Tatto, Raiteri, Bernetti & Bussi, Appl. Sci. 12, 1139 (2022). Time-reversible Trotter
splitting of their reference implementation (one force evaluation per step):

    thermostat(h/2) · kick(h/2) · [barostat move + drift](h) · forces · kick(h/2) · thermostat(h/2)

The barostat move, from the state after the first kick (P the instantaneous pressure tensor
of :mod:`md.pressure`, P̄ = tr P / 3, V the volume, λ = √V, β_T the compressibility the
barostat assumes, τ_p ``barostat_tau_fs``, P₀ the target, R ~ N(0, 1)):

    f_λ = −2λ (P₀ − P̄ − kT/(2V))                  force on λ, eV/Å^{3/2}
    D   = kT β_T / (4 τ_p)                          diffusion of λ, Å³/fs
    λ'  = λ + (D/kT) f_λ h + √(D h) (R₁ + R₂)        (two half steps around the shape move)
    shape (anisotropic, triclinic; dev = traceless part of the projected matrix):
        A = β_T dev(P) / (3 τ_p),  b² = 2 β_T kT / (3 τ_p V_½),  ε = A h + b √h dev(R)
    μ   = exp(ε) (λ'/λ)^{2/3}                        (isotropic: ε = 0)
    r ← r μ + (v μ⁻ᵀ + v μ) h/2,   v ← v μ⁻ᵀ,   cell ← cell μ

It samples the isothermal–isobaric ensemble with the volume measure dV: for an ideal gas
⟨V⟩ = (N_f/3 + 1) kT/P₀ (N_f kinetic degrees of freedom). β_T only sets how fast the volume
relaxes (time τ_p · β_true/β_T): a guess that is too small is slow, one that is far too large
makes the barostat move in steps that are no longer small.

Effective energy (conserved up to the integration error): K + U + P₀V + reservoir. The
reservoir collects the thermostat's kinetic-energy changes and, for each barostat move, the
log-ratio of its forward and backward probabilities (× kT), primes at the state after the
move (new forces and stress, velocities before the second kick):

    ½ Δλ (f_λ + f_λ') + D h (f_λ'² − f_λ²)/(4kT) − ½ kT ln(V'/V)
    + (kT/b²) ε:(A + A') + kT h (|A'|² − |A|²)/(2b²)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Tuple

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

from md.barostat import ConstantPressure, check_npt_state, finish_move, pending_move
from md.bussi import rescale
from md.cell_flexibility import deformation_exp, project, traceless
from md.forcefield import Evaluation
from md.integrator import Pending, clone_generator, kick
from md.pressure import cell_volume_A3, pressure_tensor_eV_per_A3
from md.state import State, degrees_of_freedom, kinetic_energy_eV


class CellRescalingVariables(NamedTuple):
    """Extended variable: ``reservoir_eV`` (0-d float64), energy the thermostat and the
    barostat's bath took out, eV (see the module docstring)."""

    reservoir_eV: Tensor


class BarostatMove(NamedTuple):
    """One barostat move: the deformation ``mu`` (3, 3) and what its closing bookkeeping needs
    (Δλ Å^{3/2}, ε, b² 1/fs, the old f_λ eV/Å^{3/2})."""

    mu: Tensor
    d_lambda: float
    shape_generator: Tensor
    b2_per_fs: float
    force_lambda: float


def _lambda_force(pressure: Tensor, volume_A3: float, p: "StochasticCellRescaling") -> float:
    """f_λ = −2λ (P₀ − P̄ − kT/(2V)), eV/Å^{3/2}."""
    kT = units.BOLTZMANN_EV_PER_K * p.temperature_K
    mean = float(torch.trace(pressure)) / 3.0
    return -2.0 * math.sqrt(volume_A3) * (p.pressure_eV_per_A3 - mean - 0.5 * kT / volume_A3)


def _shape_drive(pressure: Tensor, p: "StochasticCellRescaling") -> Tensor:
    """A = β_T dev(P) / (3 τ_p), 1/fs (zero for the isotropic flexibility)."""
    return p.compressibility_A3_per_eV / (3.0 * p.barostat_tau_fs) * traceless(project(pressure, p.flexibility))


def draw_move(state: State, p: "StochasticCellRescaling", rng: torch.Generator) -> Tuple[BarostatMove, float]:
    """The barostat move from ``state`` (velocities after the first kick) and its opening
    bookkeeping term (eV). Draws from ``rng`` (advancing it)."""
    h = p.timestep_fs
    kT = units.BOLTZMANN_EV_PER_K * p.temperature_K
    pressure = pressure_tensor_eV_per_A3(state).cpu()  # the barostat's 3×3 algebra runs on the CPU
    volume = float(cell_volume_A3(state.system.cell[0]))
    lam = math.sqrt(volume)
    diffusion = kT * p.compressibility_A3_per_eV / (4.0 * p.barostat_tau_fs)
    f_lam = _lambda_force(pressure, volume, p)
    noise = torch.randn(2, generator=rng, dtype=torch.float64, device=rng.device).tolist()
    d_lam = 0.5 * diffusion / kT * f_lam * h + math.sqrt(diffusion * h) * noise[0]
    generator = torch.zeros((3, 3), dtype=torch.float64)
    b2, work = 0.0, 0.0
    if p.flexibility != "isotropic":
        b2 = 2.0 * p.compressibility_A3_per_eV * kT / (3.0 * p.barostat_tau_fs * (lam + d_lam) ** 2)
        drive = _shape_drive(pressure, p)
        gauss = torch.randn((3, 3), generator=rng, dtype=torch.float64, device=rng.device).cpu()
        generator = drive * h + math.sqrt(b2 * h) * traceless(project(gauss, p.flexibility))
        work += kT / b2 * float((generator * drive).sum()) - 0.5 * kT * h / b2 * float((drive * drive).sum())
    d_lam += 0.5 * diffusion / kT * f_lam * h + math.sqrt(diffusion * h) * noise[1]
    if not lam + d_lam > 0.0:
        raise ConfigError(f"the barostat tried to shrink the cell to nothing (V = {volume:.4g} Å^3): the "
                          "compressibility or the step is far too large for barostat_tau_fs; lower "
                          "compressibility_per_GPa or raise barostat_tau_fs")
    work += 0.5 * d_lam * f_lam - 0.25 * diffusion / kT * h * f_lam**2 + 0.5 * kT * math.log(volume)
    mu = deformation_exp(generator, p.flexibility) * ((lam + d_lam) / lam) ** (2.0 / 3.0)
    return BarostatMove(mu, d_lam, generator, b2, f_lam), work


def closing_work(state: State, move: BarostatMove, p: "StochasticCellRescaling") -> float:
    """The bookkeeping term of ``move`` at the state after it (new stress, velocities before
    the second kick), eV."""
    h = p.timestep_fs
    kT = units.BOLTZMANN_EV_PER_K * p.temperature_K
    pressure = pressure_tensor_eV_per_A3(state).cpu()
    volume = float(cell_volume_A3(state.system.cell[0]))
    diffusion = kT * p.compressibility_A3_per_eV / (4.0 * p.barostat_tau_fs)
    f_lam = _lambda_force(pressure, volume, p)
    work = 0.5 * move.d_lambda * f_lam + 0.25 * diffusion / kT * h * f_lam**2 - 0.5 * kT * math.log(volume)
    if p.flexibility != "isotropic":
        drive = _shape_drive(pressure, p)
        work += (kT / move.b2_per_fs * float((move.shape_generator * drive).sum())
                 + 0.5 * kT * h / move.b2_per_fs * float((drive * drive).sum()))
    return work


def deform(positions: Tensor, velocities: Tensor, cell: Tensor, mu: Tensor, h: float,
           diagonal: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """r μ + (v μ⁻ᵀ + v μ) h/2, v μ⁻ᵀ and cell μ (Å, Å/fs, Å); elementwise when μ is diagonal."""
    mu = mu.to(dtype=positions.dtype, device=positions.device)
    if diagonal:
        d = torch.diagonal(mu)
        return positions * d + (velocities / d + velocities * d) * (0.5 * h), velocities / d, cell * d
    mu_inv_t = torch.linalg.inv(mu).T
    return (positions @ mu + (velocities @ mu_inv_t + velocities @ mu) * (0.5 * h), velocities @ mu_inv_t,
            cell @ mu)


def init(state: State) -> State:
    """Check the state can run at constant pressure; empty reservoir."""
    check_npt_state(state, "stochastic cell rescaling")
    zero = torch.zeros((), dtype=torch.float64)
    return state.replace(extended=CellRescalingVariables(zero))


def begin_step(state: State, p: "StochasticCellRescaling") -> Pending:
    """thermostat(h/2) · kick(h/2) · barostat move and drift: everything before the force call."""
    h = p.timestep_fs
    rng = clone_generator(state.rng)
    n_dof = degrees_of_freedom(state)
    kinetic = float(kinetic_energy_eV(state))
    v, kinetic_new = rescale(state.velocities, kinetic, n_dof, p.temperature_K, 0.5 * h / p.tau_fs, rng)
    reservoir = float(state.extended.reservoir_eV) + (kinetic - kinetic_new)
    v = kick(v, state.forces, state.acceleration, 0.5 * h)
    move, work = draw_move(state.replace(velocities=v), p, rng)
    positions, v, cell = deform(state.positions, v, state.system.cell, move.mu, h, p.flexibility != "triclinic")
    return pending_move(state, positions, cell, v, (rng, n_dof, reservoir + work, move))


def finish_step(first: Pending, result: Evaluation, p: "StochasticCellRescaling") -> State:
    """Closing bookkeeping of the move · kick(h/2) · thermostat(h/2)."""
    h = p.timestep_fs
    rng, n_dof, reservoir, move = first.carry
    new = finish_move(first, result, h, 0.5 * h, "stochastic cell rescaling")
    reservoir += closing_work(new.replace(velocities=first.velocities), move, p)
    kinetic = float(kinetic_energy_eV(new))
    v, kinetic_new = rescale(new.velocities, kinetic, n_dof, p.temperature_K, 0.5 * h / p.tau_fs, rng)
    extended = CellRescalingVariables(torch.tensor(reservoir + (kinetic - kinetic_new), dtype=torch.float64))
    return new.replace(velocities=v, rng=rng, extended=extended)


def conserved_energy_eV(state: State, pressure_eV_per_A3: float) -> float:
    """Effective energy K + U + P₀V + reservoir, eV."""
    volume = float(cell_volume_A3(state.system.cell[0]))
    return (float(kinetic_energy_eV(state) + state.potential_energy) + pressure_eV_per_A3 * volume
            + float(state.extended.reservoir_eV))


@dataclass(frozen=True)
class StochasticCellRescaling(ConstantPressure):
    """NPT by stochastic cell rescaling + Bussi thermostat.

    Args:
        timestep_fs: time step, fs (> 0).
        temperature_K: target temperature, K (> 0).
        pressure_GPa: target (hydrostatic) pressure, GPa (negative: tension).
        tau_fs: thermostat relaxation time, fs (> 0).
        barostat_tau_fs: barostat relaxation time τ_p, fs (> 0; ~1000 fs, ≳ 100 steps).
        compressibility_per_GPa: the isothermal compressibility β_T the barostat assumes,
            1/GPa (> 0; ~0.007 for copper, ~0.45 for water, ~0.3–2 for argon). Only the
            relaxation speed depends on it, not the ensemble.
        flexibility: ``isotropic``, ``anisotropic`` or ``triclinic`` (:mod:`md.cell_flexibility`).
    """

    timestep_fs: float
    temperature_K: float
    pressure_GPa: float
    tau_fs: float = 100.0
    barostat_tau_fs: float = 1000.0
    compressibility_per_GPa: float = 0.01
    flexibility: str = "isotropic"
    barostat = "scr"

    def __post_init__(self) -> None:
        self._check_fields((("timestep_fs", "fs"), ("temperature_K", "K"), ("tau_fs", "fs"),
                            ("barostat_tau_fs", "fs"), ("compressibility_per_GPa", "1/GPa")))

    @property
    def compressibility_A3_per_eV(self) -> float:
        """β_T in Å^3/eV (= 1/(eV/Å^3))."""
        return self.compressibility_per_GPa * units.EV_PER_A3_IN_GPA

    def init(self, state: State) -> State:
        return init(state)

    def begin_step(self, state: State) -> Pending:
        if not isinstance(state.extended, CellRescalingVariables):
            raise ConfigError("this state was not initialised for stochastic cell rescaling: call "
                              "integrator.init(state) first")
        return begin_step(state, self)

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        return finish_step(first, result, self)

    def conserved_energy_eV(self, state: State) -> float:
        return conserved_energy_eV(state, self.pressure_eV_per_A3)

    def parameters(self) -> Dict[str, Any]:
        return {"ensemble": self.name, "barostat": self.barostat, "timestep_fs": self.timestep_fs,
                "temperature_K": self.temperature_K, "pressure_GPa": self.pressure_GPa, "tau_fs": self.tau_fs,
                "barostat_tau_fs": self.barostat_tau_fs, "compressibility_per_GPa": self.compressibility_per_GPa,
                "flexibility": self.flexibility}

    def extended_to_dict(self, extended: CellRescalingVariables) -> Dict[str, Tensor]:
        return {"reservoir_eV": extended.reservoir_eV}

    def extended_from_dict(self, data: Dict[str, Tensor]) -> CellRescalingVariables:
        return CellRescalingVariables(data["reservoir_eV"])
