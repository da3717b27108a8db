"""Langevin dynamics (NVT) with the BAOAB splitting of Leimkuhler & Matthews (2013).

Equations (h = ``timestep_fs``, γ = ``friction_per_fs``, c₁ = e^{−γh}, c₂ = √(1 − c₁²),
ξ ~ N(0, 1) per component, kT = k_B · ``temperature_K``):

    B:  v ← v + (h/2) F(r)/m
    A:  r ← r + (h/2) v
    O:  v ← c₁ v + c₂ √(kT/m) ξ          heat ← heat + K_before − K_after
    A:  r ← r + (h/2) v
    B:  v ← v + (h/2) F(r)/m             (one force evaluation per step)

Conserved quantity ("effective energy"): H + heat, where heat is the kinetic energy the O
step removed from the system (negative when it heated it). Its drift measures the
integration error of the deterministic part. The random kicks act on every atom, so the
centre of mass is thermalised too: all 3 N_free degrees of freedom count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

from md.forcefield import Evaluation, ForceField
from md.integrator import (Pending, check_positive, clone_generator, drift, evaluate_pending, finish_advance, kick,
                           pending)
from md.state import State, kinetic_energy_eV


class LangevinVariables(NamedTuple):
    """Extended variable of BAOAB: ``heat_eV`` (0-d), energy removed by the O steps, eV."""

    heat_eV: Tensor


def init(state: State) -> State:
    """Zero heat; the centre-of-mass momentum is thermalised, so no dof is constrained."""
    zero = torch.zeros((), dtype=state.velocities.dtype, device=state.velocities.device)
    return state.replace(extended=LangevinVariables(zero), constrained_dof=0)


def begin_step(state: State, timestep_fs: float, temperature_K: float, friction_per_fs: float) -> Pending:
    """B A O A of one BAOAB step (fs, K, 1/fs): everything before the force call; draws
    3 n_atoms normals from a clone of ``state.rng``."""
    h = timestep_fs
    c1 = math.exp(-friction_per_fs * h)
    c2 = math.sqrt(1.0 - c1 * c1)
    kT_eV = units.BOLTZMANN_EV_PER_K * temperature_K
    # state.acceleration = 1 / (m · AMU_A2_PER_FS2_IN_EV), so kT · acceleration = kT/m in
    # Å²/fs²: the thermal speed √(kT/m) in Å/fs, zero for fixed atoms.
    thermal = torch.sqrt(kT_eV * state.acceleration)
    v = kick(state.velocities, state.forces, state.acceleration, 0.5 * h)
    r = drift(state.positions, v, 0.5 * h)
    rng = clone_generator(state.rng)
    noise = torch.randn(v.shape, generator=rng, dtype=v.dtype, device=rng.device).to(v.device)
    kinetic_before = units.kinetic_energy_eV(state.masses, v)
    v = torch.addcmul(c1 * v, thermal, noise, value=c2)
    kinetic_after = units.kinetic_energy_eV(state.masses, v)
    r = drift(r, v, 0.5 * h)
    heat = state.extended.heat_eV + (kinetic_before - kinetic_after)
    return pending(state.replace(rng=rng, extended=LangevinVariables(heat)), r, v)


def finish_step(first: Pending, result: Evaluation, timestep_fs: float) -> State:
    """The final B (half kick with the new forces), fs."""
    return finish_advance(first, result, timestep_fs, 0.5 * timestep_fs)


def step(state: State, forcefield: ForceField, timestep_fs: float, temperature_K: float,
         friction_per_fs: float, compute_stress: bool = False) -> State:
    """One BAOAB step (fs, K, 1/fs); draws 3 n_atoms normals from a clone of ``state.rng``."""
    first = begin_step(state, timestep_fs, temperature_K, friction_per_fs)
    return finish_step(first, evaluate_pending(first, forcefield, compute_stress), timestep_fs)


def conserved_energy_eV(state: State) -> float:
    """Effective energy K + U + heat, eV."""
    return float(kinetic_energy_eV(state) + state.potential_energy + state.extended.heat_eV)


@dataclass(frozen=True)
class LangevinBAOAB:
    """NVT by Langevin dynamics: ``timestep_fs`` (fs), ``temperature_K`` (K, > 0),
    ``friction_per_fs`` γ (1/fs, > 0; 0.01/fs = 1/ps is a gentle default)."""

    timestep_fs: float
    temperature_K: float
    friction_per_fs: float = 0.01
    name = "langevin"
    shadow_applies = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestep_fs", check_positive("timestep_fs", self.timestep_fs, "fs"))
        object.__setattr__(self, "temperature_K", check_positive("temperature_K", self.temperature_K, "K"))
        object.__setattr__(self, "friction_per_fs",
                           check_positive("friction_per_fs", self.friction_per_fs, "1/fs"))

    def init(self, state: State) -> State:
        return init(state)

    def step(self, state: State, forcefield: ForceField, compute_stress: bool = False) -> State:
        first = self.begin_step(state)
        return finish_step(first, evaluate_pending(first, forcefield, compute_stress), self.timestep_fs)

    def begin_step(self, state: State) -> Pending:
        if not isinstance(state.extended, LangevinVariables):
            raise ConfigError("this state was not initialised for Langevin: call integrator.init(state) first")
        return begin_step(state, self.timestep_fs, self.temperature_K, self.friction_per_fs)

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        return finish_step(first, result, self.timestep_fs)

    def conserved_energy_eV(self, state: State) -> float:
        return conserved_energy_eV(state)

    def parameters(self) -> Dict[str, Any]:
        return {"ensemble": self.name, "timestep_fs": self.timestep_fs,
                "temperature_K": self.temperature_K, "friction_per_fs": self.friction_per_fs}

    def extended_to_dict(self, extended: LangevinVariables) -> Dict[str, Tensor]:
        return {"heat_eV": extended.heat_eV}

    def extended_from_dict(self, data: Dict[str, Tensor]) -> LangevinVariables:
        return LangevinVariables(data["heat_eV"])
