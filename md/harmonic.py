"""Harmonic springs tying each atom to a reference position (no neighbour list: cutoff 0).

``E = ½ Σ_i k_i |r_i − r_i⁰|²`` with spring constants k in eV/Å². The exact solution is
known (angular frequency ω = √(k/m)), which makes it the dimensional anchor of the MD tests
and the one system whose shadow Hamiltonian velocity Verlet conserves exactly.
"""
from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

from mlip.errors import ConfigError
from mlip.types import Edges, Prediction, System

from md.neighbor_cache import squared_lengths


class Harmonic:
    """Springs to reference positions (an Einstein crystal / independent oscillators).

    Args:
        reference_positions_A: (n_atoms, 3) spring anchors, Å (UNWRAPPED coordinates: the
            spring acts on the unwrapped position, there is no minimum-image convention).
        spring_constant_eV_per_A2: scalar or (n_atoms,) spring constants k, eV/Å² (> 0).

    Example:
        >>> import torch
        >>> from mlip.types import System, empty_edges
        >>> h = Harmonic(torch.zeros(1, 3, dtype=torch.float64), 2.0)
        >>> s = System(torch.tensor([[0.1, 0., 0.]], dtype=torch.float64), torch.tensor([1]),
        ...            torch.zeros(1, 3, 3, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.bool),
        ...            torch.zeros(1, dtype=torch.int64))
        >>> round(float(h(s, empty_edges(), False).energy[0]), 6)   # ½ k x² = 0.01 eV
        0.01
    """

    cutoff = 0.0
    #: External springs break translation invariance: total momentum is not conserved.
    conserves_momentum = False

    def __init__(self, reference_positions_A: Tensor,
                 spring_constant_eV_per_A2: Union[float, Tensor]) -> None:
        reference = torch.as_tensor(reference_positions_A)
        if reference.ndim != 2 or reference.shape[1] != 3:
            raise ConfigError(f"reference_positions_A must be (n_atoms, 3), got {tuple(reference.shape)}")
        k = torch.as_tensor(spring_constant_eV_per_A2, dtype=reference.dtype)
        if not bool((k > 0).all()):
            raise ConfigError("spring_constant_eV_per_A2 must be > 0 eV/Å²")
        self.reference_positions_A = reference.detach().clone()
        self.spring_constant_eV_per_A2 = k.expand(reference.shape[0]).clone()

    def __call__(self, system: System, edges: Edges, compute_stress: bool = False) -> Prediction:
        """Energy (n_systems,) eV and forces −k (r − r⁰) (n_atoms, 3) eV/Å; no stress."""
        positions = system.positions
        reference = self.reference_positions_A.to(positions)
        k = self.spring_constant_eV_per_A2.to(positions).unsqueeze(1)
        displacement = positions - reference
        atomic = 0.5 * k.squeeze(1) * squared_lengths(displacement)
        energy = torch.zeros(system.cell.shape[0], dtype=positions.dtype, device=positions.device)
        energy = energy.index_add(0, system.system_index, atomic)
        return Prediction(energy=energy, forces=-k * displacement, stress=None,
                          atomic_energies=atomic)
