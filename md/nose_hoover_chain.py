"""Nosé–Hoover chains (NVT; Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635, 1992),
integrated with the Trotter splitting of Martyna, Tuckerman, Tobias & Klein (Mol. Phys. 87,
1117, 1996): one step = chain(h/2) · velocity Verlet(h) · chain(h/2).

Equations of motion (chain length M, N_f degrees of freedom, kT = k_B T):

    ṙ = v,   v̇ = F/m − v_ξ₁ v
    ξ̇_j = v_ξj
    v̇_ξ1 = (2K − N_f kT)/Q₁ − v_ξ1 v_ξ2
    v̇_ξj = (Q_{j−1} v_ξ(j−1)² − kT)/Q_j − v_ξj v_ξ(j+1)      (v_ξ(M+1) ≡ 0)
    Q₁ = N_f kT τ²,  Q_j = kT τ² (j ≥ 2)

Conserved quantity: H + Σ_j ½ Q_j v_ξj² + N_f kT ξ₁ + kT Σ_{j≥2} ξ_j.
The chain update uses Suzuki–Yoshida weights (order ``n_yoshida`` ∈ {1, 3, 5}); the chain
variables are a handful of float64 scalars handled in Python, the particle velocities are
rescaled once per half step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Tuple

import torch
from torch import Tensor

from mlip import units
from mlip.errors import ConfigError

from md import velocity_verlet
from md.forcefield import Evaluation, ForceField
from md.integrator import Pending, check_positive, evaluate_pending
from md.state import State, degrees_of_freedom, kinetic_energy_eV

_YOSHIDA = {
    1: (1.0,),
    3: (1.0 / (2.0 - 2.0 ** (1.0 / 3.0)), 1.0 - 2.0 / (2.0 - 2.0 ** (1.0 / 3.0)), 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))),
    5: tuple([1.0 / (4.0 - 4.0 ** (1.0 / 3.0))] * 2 + [1.0 - 4.0 / (4.0 - 4.0 ** (1.0 / 3.0))]
             + [1.0 / (4.0 - 4.0 ** (1.0 / 3.0))] * 2),
}


class ChainVariables(NamedTuple):
    """Extended variables (float64 tensors of shape (M,)): thermostat positions ``xi``
    (dimensionless), velocities ``v_xi`` (1/fs) and masses ``mass_eV_fs2`` (eV·fs²)."""

    xi: Tensor
    v_xi: Tensor
    mass_eV_fs2: Tensor


def init(state: State, temperature_K: float, tau_fs: float, chain_length: int) -> State:
    """Chain at rest (ξ = v_ξ = 0) with masses Q₁ = N_f kT τ², Q_j = kT τ²."""
    kT = units.BOLTZMANN_EV_PER_K * temperature_K
    n_dof = max(degrees_of_freedom(state), 1)
    masses = [n_dof * kT * tau_fs**2] + [kT * tau_fs**2] * (chain_length - 1)
    zeros = torch.zeros(chain_length, dtype=torch.float64)
    return state.replace(extended=ChainVariables(zeros, zeros.clone(), torch.tensor(masses, dtype=torch.float64)))


def propagate_chain(two_kinetic_eV: float, n_dof: int, kT_eV: float, xi: List[float], v: List[float],
                    Q: List[float], dt_fs: float, n_yoshida: int) -> Tuple[float, List[float], List[float]]:
    """Advance the chain alone by ``dt_fs`` (particles frozen except for the friction);
    returns (velocity scale factor, ξ, v_ξ). ``two_kinetic_eV`` is 2K, eV."""
    M = len(v)
    xi, v = list(xi), list(v)
    scale = 1.0
    for weight in _YOSHIDA[n_yoshida]:
        d = weight * dt_fs
        G = (Q[M - 2] * v[M - 2] ** 2 - kT_eV) / Q[M - 1] if M > 1 else (two_kinetic_eV - n_dof * kT_eV) / Q[0]
        v[M - 1] += 0.5 * d * G
        for j in range(M - 2, -1, -1):
            damp = math.exp(-0.25 * d * v[j + 1])
            G = (two_kinetic_eV - n_dof * kT_eV) / Q[0] if j == 0 else (Q[j - 1] * v[j - 1] ** 2 - kT_eV) / Q[j]
            v[j] = (v[j] * damp + 0.5 * d * G) * damp
        s = math.exp(-d * v[0])
        scale *= s
        two_kinetic_eV *= s * s
        for j in range(M):
            xi[j] += d * v[j]
        for j in range(M - 1):
            damp = math.exp(-0.25 * d * v[j + 1])
            G = (two_kinetic_eV - n_dof * kT_eV) / Q[0] if j == 0 else (Q[j - 1] * v[j - 1] ** 2 - kT_eV) / Q[j]
            v[j] = (v[j] * damp + 0.5 * d * G) * damp
        G = (Q[M - 2] * v[M - 2] ** 2 - kT_eV) / Q[M - 1] if M > 1 else (two_kinetic_eV - n_dof * kT_eV) / Q[0]
        v[M - 1] += 0.5 * d * G
    return scale, xi, v


def begin_step(state: State, timestep_fs: float, temperature_K: float, n_yoshida: int = 3) -> Pending:
    """chain(h/2) and the first half of velocity Verlet (fs, K)."""
    kT = units.BOLTZMANN_EV_PER_K * temperature_K
    n_dof = degrees_of_freedom(state)
    chain = state.extended
    xi, v, Q = chain.xi.tolist(), chain.v_xi.tolist(), chain.mass_eV_fs2.tolist()
    two_k = 2.0 * float(kinetic_energy_eV(state))
    scale, xi, v = propagate_chain(two_k, n_dof, kT, xi, v, Q, 0.5 * timestep_fs, n_yoshida)
    first = velocity_verlet.begin_step(state.replace(velocities=state.velocities * scale), timestep_fs)
    return first._replace(carry=(kT, n_dof, xi, v, Q))


def finish_step(first: Pending, result: Evaluation, timestep_fs: float, n_yoshida: int = 3) -> State:
    """The second half of velocity Verlet and chain(h/2) (fs)."""
    kT, n_dof, xi, v, Q = first.carry
    chain = first.state.extended
    new = velocity_verlet.finish_step(first, result, timestep_fs)
    two_k = 2.0 * float(kinetic_energy_eV(new))
    scale, xi, v = propagate_chain(two_k, n_dof, kT, xi, v, Q, 0.5 * timestep_fs, n_yoshida)
    extended = ChainVariables(torch.tensor(xi, dtype=torch.float64), torch.tensor(v, dtype=torch.float64),
                              chain.mass_eV_fs2)
    return new.replace(velocities=new.velocities * scale, extended=extended)


def step(state: State, forcefield: ForceField, timestep_fs: float, temperature_K: float,
         n_yoshida: int = 3, compute_stress: bool = False) -> State:
    """chain(h/2) · velocity Verlet(h) · chain(h/2)."""
    first = begin_step(state, timestep_fs, temperature_K, n_yoshida)
    return finish_step(first, evaluate_pending(first, forcefield, compute_stress), timestep_fs, n_yoshida)


def conserved_energy_eV(state: State, temperature_K: float) -> float:
    """H + Σ ½ Q v_ξ² + N_f kT ξ₁ + kT Σ_{j≥2} ξ_j, eV."""
    kT = units.BOLTZMANN_EV_PER_K * temperature_K
    chain = state.extended
    thermostat = 0.5 * float((chain.mass_eV_fs2 * chain.v_xi**2).sum())
    thermostat += degrees_of_freedom(state) * kT * float(chain.xi[0]) + kT * float(chain.xi[1:].sum())
    return float(kinetic_energy_eV(state) + state.potential_energy) + thermostat


@dataclass(frozen=True)
class NoseHooverChain:
    """NVT by a Nosé–Hoover chain: ``timestep_fs`` (fs), ``temperature_K`` (K, > 0), ``tau_fs``
    thermostat period (fs, > 0), ``chain_length`` M (>= 1), ``n_yoshida`` (1, 3 or 5)."""

    timestep_fs: float
    temperature_K: float
    tau_fs: float = 100.0
    chain_length: int = 3
    n_yoshida: int = 3
    name = "nose-hoover"
    shadow_applies = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestep_fs", check_positive("timestep_fs", self.timestep_fs, "fs"))
        object.__setattr__(self, "temperature_K", check_positive("temperature_K", self.temperature_K, "K"))
        object.__setattr__(self, "tau_fs", check_positive("tau_fs", self.tau_fs, "fs"))
        if isinstance(self.chain_length, bool) or not isinstance(self.chain_length, int) or self.chain_length < 1:
            raise ConfigError(f"chain_length must be an integer >= 1, got {self.chain_length!r}")
        if self.n_yoshida not in _YOSHIDA:
            raise ConfigError(f"n_yoshida must be one of {sorted(_YOSHIDA)}, got {self.n_yoshida!r}")

    def init(self, state: State) -> State:
        return init(state, self.temperature_K, self.tau_fs, self.chain_length)

    def step(self, state: State, forcefield: ForceField, compute_stress: bool = False) -> State:
        first = self.begin_step(state)
        return self.finish_step(first, evaluate_pending(first, forcefield, compute_stress))

    def begin_step(self, state: State) -> Pending:
        if not isinstance(state.extended, ChainVariables):
            raise ConfigError("this state was not initialised for Nosé–Hoover: call integrator.init(state) first")
        return begin_step(state, self.timestep_fs, self.temperature_K, self.n_yoshida)

    def finish_step(self, first: Pending, result: Evaluation) -> State:
        return finish_step(first, result, self.timestep_fs, self.n_yoshida)

    def conserved_energy_eV(self, state: State) -> float:
        return conserved_energy_eV(state, self.temperature_K)

    def parameters(self) -> Dict[str, Any]:
        return {"ensemble": self.name, "timestep_fs": self.timestep_fs, "temperature_K": self.temperature_K,
                "tau_fs": self.tau_fs, "chain_length": self.chain_length, "n_yoshida": self.n_yoshida}

    def extended_to_dict(self, extended: ChainVariables) -> Dict[str, Tensor]:
        return extended._asdict()

    def extended_from_dict(self, data: Dict[str, Tensor]) -> ChainVariables:
        return ChainVariables(data["xi"], data["v_xi"], data["mass_eV_fs2"])
