"""Stochastic velocity rescaling (Bussi, Donadio & Parrinello, J. Chem. Phys. 126, 014101, 2007).

One step = rescale(h/2) · velocity Verlet(h) · rescale(h/2). A rescale over Δt multiplies
all velocities by α, with (K kinetic energy, K̄ = N_f kT/2 its target, c = e^{−Δt/τ},
R ~ N(0,1), S = Σ_{i=2}^{N_f} R_i² a χ² variable with N_f − 1 degrees of freedom):

    α² = c + (1 − c) (S + R²) K̄ / (N_f K) + 2 R √(c (1 − c) K̄ / (N_f K))
    sign(α) = sign(R + √(c N_f K / ((1 − c) K̄)))
    reservoir ← reservoir + K − α² K

Conserved quantity ("effective energy"): H + reservoir. Rescaling every velocity by one
factor keeps a zero centre-of-mass momentum zero, so N_f = 3 N_free − constrained_dof.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Tuple

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

from md import velocity_verlet
from md.forcefield import Evaluation, ForceField
from md.integrator import Pending, check_positive, clone_generator, evaluate_pending
from md.state import State, degrees_of_freedom, kinetic_energy_eV


class BussiVariables(NamedTuple):
    """Extended variable: ``reservoir_eV`` (0-d), energy the thermostat took out, eV."""

    reservoir_eV: Tensor


def init(state: State) -> State:
    """Empty reservoir."""
    zero = torch.zeros((), dtype=torch.float64, device=state.velocities.device)
    return state.replace(extended=BussiVariables(zero))


def rescale(velocities: Tensor, kinetic_eV: float, n_dof: int, temperature_K: float,
            dt_over_tau: float, rng: torch.Generator) -> Tuple[Tensor, float]:
    """Velocities after one stochastic rescale over Δt = ``dt_over_tau`` · τ, and the new
    kinetic energy (eV). Draws N_f normals from ``rng`` (advancing it)."""
    if kinetic_eV <= 0.0 or n_dof <= 0:
        return velocities, kinetic_eV
    target_eV = 0.5 * n_dof * units.BOLTZMANN_EV_PER_K * temperature_K
    c = math.exp(-dt_over_tau)
    noise = torch.randn(n_dof, generator=rng, dtype=torch.float64, device=rng.device)
    r1 = float(noise[0])
    s = float((noise[1:] * noise[1:]).sum())
    factor = target_eV / (n_dof * kinetic_eV)
    alpha2 = c + (1.0 - c) * (s + r1 * r1) * factor + 2.0 * r1 * math.sqrt(c * (1.0 - c) * factor)
    alpha = math.sqrt(max(alpha2, 0.0))
    if r1 + math.sqrt(c / ((1.0 - c) * factor)) < 0.0:
        alpha = -alpha
    return velocities * alpha, kinetic_eV * alpha * alpha


def begin_step(state: State, timestep_fs: float, temperature_K: float, tau_fs: float) -> Pending:
    """rescale(h/2) and the first half of velocity Verlet (fs, K, fs)."""
    rng = clone_generator(state.rng)
    n_dof = degrees_of_freedom(state)
    half = 0.5 * timestep_fs / tau_fs
    kinetic = float(kinetic_energy_eV(state))
    v, kinetic_new = rescale(state.velocities, kinetic, n_dof, temperature_K, half, rng)
    reservoir = float(state.extended.reservoir_eV) + (kinetic - kinetic_new)
    first = velocity_verlet.begin_step(state.replace(velocities=v), timestep_fs)
    return first._replace(carry=(rng, n_dof, reservoir))


def finish_step(first: Pending, result: Evaluation, timestep_fs: float, temperature_K: float,
                tau_fs: float) -> State:
    """The second half of velocity Verlet and rescale(h/2) (fs, K, fs)."""
    rng, n_dof, reservoir = first.carry
    half = 0.5 * timestep_fs / tau_fs
    new = velocity_verlet.finish_step(first, result, timestep_fs)
    kinetic = float(kinetic_energy_eV(new))
    v, kinetic_new = rescale(new.velocities, kinetic, n_dof, temperature_K, half, rng)
    reservoir += kinetic - kinetic_new
    extended = BussiVariables(torch.tensor(reservoir, dtype=torch.float64, device=v.device))
    return new.replace(velocities=v, rng=rng, extended=extended)


def step(state: State, forcefield: ForceField, timestep_fs: float, temperature_K: float,
         tau_fs: float, compute_stress: bool = False) -> State:
    """rescale(h/2) · velocity Verlet · rescale(h/2); fs, K, fs."""
    first = begin_step(state, timestep_fs, temperature_K, tau_fs)
    return finish_step(first, evaluate_pending(first, forcefield, compute_stress), timestep_fs, temperature_K,
                       tau_fs)


def conserved_energy_eV(state: State) -> float:
    """Effective energy K + U + reservoir, eV."""
    return float(kinetic_energy_eV(state) + state.potential_energy) + float(state.extended.reservoir_eV)


@dataclass(frozen=True)
class Bussi:
    """NVT by stochastic velocity rescaling: ``timestep_fs`` (fs), ``temperature_K`` (K, > 0),
    ``tau_fs`` relaxation time of the kinetic energy (fs, > 0; ~100 time steps is typical)."""

    timestep_fs: float
    temperature_K: float
    tau_fs: float = 100.0
    name = "bussi"
    shadow_applies = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestep_fs", check_positive("timestep_fs", self.timestep_fs, "fs"))
        object.__setattr__(self, "temperature_K", check_positive("temperature_K", self.temperature_K, "K"))
        object.__setattr__(self, "tau_fs", check_positive("tau_fs", self.tau_fs, "fs"))

    def init(self, state: State) -> State:
        return init(state)

    def step(self, state: State, forcefield: ForceField, compute_stress: bool = False) -> State:
        first = self.begin_step(state)
        return self.finish_step(first, evaluate_pending(first, forcefield, compute_stress))

    def begin_step(self, state: State) -> Pending:
        if not isinstance(state.extended, BussiVariables):
            raise ConfigError("this state was not initialised for Bussi: call integrator.init(state) first")
        return begin_step(state, self.timestep_fs, self.temperature_K, self.tau_fs)

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        return finish_step(first, result, self.timestep_fs, self.temperature_K, self.tau_fs)

    def conserved_energy_eV(self, state: State) -> float:
        return conserved_energy_eV(state)

    def parameters(self) -> Dict[str, Any]:
        return {"ensemble": self.name, "timestep_fs": self.timestep_fs,
                "temperature_K": self.temperature_K, "tau_fs": self.tau_fs}

    def extended_to_dict(self, extended: BussiVariables) -> Dict[str, Tensor]:
        return {"reservoir_eV": extended.reservoir_eV}

    def extended_from_dict(self, data: Dict[str, Tensor]) -> BussiVariables:
        return BussiVariables(data["reservoir_eV"])
