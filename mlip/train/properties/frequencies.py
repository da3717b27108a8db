"""``kind: frequencies``: harmonic frequencies of a molecule or Γ-point frequencies of a cell.

::

    - kind: frequencies
      structure: water.xyz                   # molecule (no pbc) or periodic cell (Γ point)
      frequencies_cm1: [1595, 3657, 3756]    # every vibrational mode, any order
      weight: 10
      scale_cm1: 20                          # optional, default each target (relative errors)

The Hessian comes from :func:`mlip.models.hessian.hessian` (double backward through the one
autograd wrapper, kept differentiable), is mass-weighted, D = M^-½ H M^-½, and restricted to the
complement of the rigid-body modes (translations; rotations too for a molecule, two for a
linear one), so its eigenvalues are exactly the 3N − 6 (3N − 5, or 3N − 3 at Γ) vibrational
ones. Frequencies are ω = sign(λ) √|λ| in cm⁻¹ (imaginary modes negative), sorted, and matched
to the sorted targets. Eigenvalue gradients are well defined as long as the modes are not
degenerate; modes that the structure's symmetry makes degenerate must have equal targets (the
sorted matching of a reference with the same symmetry gives that), then only their sum
matters and its gradient is well defined. Residuals: (ω_k − ω_k,target)/scale_k.
Logged: ``mae_cm1``, ``max_rel_error`` and, up to 12 modes, ``mode<k>_cm1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

import numpy as np
import torch
from ase import units as ase_units
from torch import Tensor

from mlip.errors import ConfigError
from mlip.train.properties.structure import Structure, read_structure
from mlip.train.properties.target import PropertyTarget, check_keys, number, numbers

#: eigenvalue of the mass-weighted Hessian in eV/(Å² amu) -> angular frequency² in s⁻².
_EV_PER_A2_AMU_IN_PER_S2 = ase_units._e / (1e-20 * ase_units._amu)
#: angular frequency in s⁻¹ -> wavenumber in cm⁻¹.
_PER_S_IN_CM1 = 1.0 / (2.0 * math.pi * ase_units._c * 100.0)
#: at most this many modes get their own logged column.
MAX_LOGGED_MODES = 12


def vibrational_basis(structure: Structure) -> np.ndarray:
    """(3N, 3N − n_rigid) orthonormal basis of the mass-weighted displacements orthogonal to the
    rigid-body modes: translations, plus rotations for a structure without periodicity."""
    masses = np.asarray(structure.masses_amu)
    pos = np.asarray(structure.positions_A)
    sqrt_m = np.repeat(np.sqrt(masses), 3)
    rigid = [sqrt_m * np.tile(axis, len(masses)) for axis in np.eye(3)]
    if not structure.periodic:
        centred = pos - (masses[:, None] * pos).sum(0) / masses.sum()
        rigid += [sqrt_m * np.cross(axis[None, :], centred).reshape(-1) for axis in np.eye(3)]
    u, s, _ = np.linalg.svd(np.array(rigid).T, full_matrices=True)
    rank = int((s > 1e-8 * s.max()).sum())
    return u[:, rank:]


@dataclass(frozen=True)
class FrequenciesTarget(PropertyTarget):
    structure: Structure
    frequencies_cm1: Tuple[float, ...]  # sorted
    scales_cm1: Tuple[float, ...]

    kind = "frequencies"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str, name: str, weight: float) -> "FrequenciesTarget":
        check_keys(entry, where, ["structure", "frequencies_cm1"], ["scale_cm1"])
        structure = read_structure(entry["structure"], where)
        targets = tuple(sorted(numbers(entry, "frequencies_cm1", where, positive=True)))
        n_modes = vibrational_basis(structure).shape[1]
        if len(targets) != n_modes:
            what = "3N − 3 at the Γ point of a periodic cell" if structure.periodic else "3N − 6 (3N − 5 if linear) for a molecule"
            raise ConfigError(f"{where}: {len(targets)} frequencies given, but {structure.description} with "
                              f"{len(structure.numbers)} atoms has {n_modes} vibrational modes ({what}); give all of them")
        if "scale_cm1" in entry:
            scales = (number(entry, "scale_cm1", where, positive=True),) * n_modes
        else:
            scales = targets
        return cls(name, weight, structure, targets, scales)

    def structures(self) -> Tuple[Structure, ...]:
        return (self.structure,)

    def frequencies(self, evaluation) -> Tensor:
        """(n_modes,) sorted harmonic frequencies, cm⁻¹ (negative: imaginary)."""
        h = evaluation.hessian(self.structure)
        like = dict(dtype=h.dtype, device=h.device)
        inv_sqrt_m = torch.tensor(np.repeat(np.asarray(self.structure.masses_amu), 3), **like).rsqrt()
        basis = torch.tensor(vibrational_basis(self.structure), **like)
        d = basis.T @ (inv_sqrt_m[:, None] * h * inv_sqrt_m[None, :]) @ basis
        lam = torch.linalg.eigvalsh(0.5 * (d + d.T)) * _EV_PER_A2_AMU_IN_PER_S2
        return torch.sign(lam) * torch.sqrt(lam.abs()) * _PER_S_IN_CM1

    def residuals(self, evaluation) -> Tensor:
        omega = self.frequencies(evaluation)
        target = torch.tensor(self.frequencies_cm1, dtype=omega.dtype, device=omega.device)
        scale = torch.tensor(self.scales_cm1, dtype=omega.dtype, device=omega.device)
        return (omega - target) / scale

    def values(self, evaluation) -> Dict[str, float]:
        omega = self.frequencies(evaluation).detach().cpu().double().numpy()
        target = np.asarray(self.frequencies_cm1)
        out = {"mae_cm1": float(np.mean(np.abs(omega - target))),
               "max_rel_error": float(np.max(np.abs(omega - target) / target))}
        if len(omega) <= MAX_LOGGED_MODES:
            out.update({f"mode{k + 1}_cm1": float(w) for k, w in enumerate(omega)})
        return out
