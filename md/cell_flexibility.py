"""How a barostat may deform the cell: isotropic, anisotropic (orthorhombic) or triclinic.

Deformations act on row vectors (cell rows are lattice vectors, positions are rows, as in
ASE): a deformation μ maps the cell h → h μ and a position r → r μ. The three flexibilities
restrict which components of a 3×3 (strain-rate, noise or pressure) matrix the barostat uses:

* ``isotropic``: only the volume changes (μ = s·1; the shape is kept);
* ``anisotropic``: the three diagonal components change independently (cell lengths along
  x, y, z; angles of an orthorhombic cell are kept; use with rectangular cells);
* ``triclinic``: every symmetric component (lengths and angles); the antisymmetric part, a
  rigid rotation of the whole system, is never generated, so the cell does not tumble.
"""
from __future__ import annotations

import difflib

import torch
from torch import Tensor

from mlip.errors import ConfigError

#: Canonical flexibilities, and the number of barostat degrees of freedom of each.
FLEXIBILITIES = ("isotropic", "anisotropic", "triclinic")
BAROSTAT_DOF = {"isotropic": 1, "anisotropic": 3, "triclinic": 6}

_ALIASES = {"isotropic": "isotropic", "iso": "isotropic", "anisotropic": "anisotropic", "aniso": "anisotropic",
            "orthorhombic": "anisotropic", "triclinic": "triclinic", "tri": "triclinic", "full": "triclinic",
            "flexible": "triclinic"}


def canonical_flexibility(name: str) -> str:
    """The canonical flexibility of ``name`` (case-insensitive; aliases such as ``iso``,
    ``orthorhombic``, ``full``), or a ConfigError naming the choices."""
    key = str(name).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=1)
    hint = f" (did you mean {_ALIASES[close[0]]!r}?)" if close else ""
    raise ConfigError(f"unknown cell flexibility {name!r}{hint}; choose one of {', '.join(FLEXIBILITIES)}")


def project(matrix: Tensor, flexibility: str) -> Tensor:
    """The part of a (3, 3) ``matrix`` a barostat of this flexibility acts on: tr/3 · 1
    (isotropic), the diagonal (anisotropic) or the symmetric part (triclinic)."""
    eye = torch.eye(3, dtype=matrix.dtype, device=matrix.device)
    if flexibility == "isotropic":
        return torch.trace(matrix) / 3.0 * eye
    if flexibility == "anisotropic":
        return torch.diag(torch.diagonal(matrix))
    return 0.5 * (matrix + matrix.T)


def traceless(matrix: Tensor) -> Tensor:
    """``matrix`` − tr(matrix)/3 · 1."""
    return matrix - torch.trace(matrix) / 3.0 * torch.eye(3, dtype=matrix.dtype, device=matrix.device)


def deformation_exp(generator: Tensor, flexibility: str) -> Tensor:
    """exp(``generator``) of a (3, 3) projected matrix: elementwise on the diagonal for the
    isotropic and anisotropic flexibilities (exact); for triclinic the matrix exponential of a
    symmetric generator, itself symmetric (no rigid rotation), symmetrised against round-off."""
    if flexibility == "triclinic":
        mu = torch.linalg.matrix_exp(generator)
        return 0.5 * (mu + mu.T)
    return torch.diag(torch.exp(torch.diagonal(generator)))
