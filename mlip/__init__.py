"""mlip: E(3)-equivariant machine-learned interatomic potentials and molecular dynamics.

Units: Å, eV, amu, e, K, fs (see :mod:`mlip.units`). Importing mlip changes no global state
(torch default dtype, seeds, threads, environment variables).
"""
from mlip import errors, units
from mlip.ase_bridge import atoms_from_system, system_from_atoms
from mlip.neighbor_list import neighbor_list
from mlip.types import Edges, Prediction, System, edge_vectors
from mlip.validation import validate_system
from mlip.models.config import ModelConfig
from mlip.potential import Potential, build_potential, load_potential
from mlip.calculator import MLIPCalculator
from mlip.models.hessian import hessian
from mlip.version import __version__

__all__ = [
    "MLIPCalculator",
    "ModelConfig",
    "Potential",
    "build_potential",
    "hessian",
    "load_potential",
    "Edges",
    "Prediction",
    "System",
    "atoms_from_system",
    "edge_vectors",
    "errors",
    "neighbor_list",
    "system_from_atoms",
    "units",
    "validate_system",
]
