"""The oracle of the active-learning loop: the reference method that labels selected frames.

Any ASE calculator by import path (``ase.calculators.emt:EMT``, ``tblite.ase:TBLite`` with
``kwargs: {method: GFN2-xTB}``, ASE's ``lammpslib`` or PySCF wrappers), or a user function
``file.py:function`` returning ``{"energy": eV, "forces": (n, 3) eV/Å, "stress": Voigt-6 eV/Å³}``.
Every answer is checked before it is kept: a NaN, a missing force or a wrong atom count is an
:class:`OracleError` naming the frame, never a silently bad label.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import numpy as np

from mlip.errors import ConfigError, MLIPError


class OracleError(MLIPError, RuntimeError):
    """The oracle failed on a frame or returned labels that cannot be right."""


@dataclass(frozen=True)
class Labels:
    """One frame's reference labels: energy (eV), forces (n_atoms, 3) eV/Å, stress (Voigt-6,
    eV/Å³, ASE sign) or None when the oracle gives none or the frame is not periodic."""

    energy_eV: float
    forces: np.ndarray
    stress: Optional[np.ndarray]


def _load_attribute(spec: str, base_dir: str) -> Any:
    target, _, name = spec.rpartition(":")
    if target.endswith(".py"):
        path = target if os.path.isabs(target) or os.path.exists(target) else os.path.join(base_dir, target)
        if not os.path.exists(path):
            raise ConfigError(f"oracle script {target!r} not found (looked in . and {base_dir})")
        module_spec = importlib.util.spec_from_file_location(f"mlip_learn_oracle_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"oracle {spec!r}: cannot import {target!r} ({exc}); install it or fix the path") from None
    if not hasattr(module, name):
        raise ConfigError(f"oracle {spec!r}: {target!r} has no attribute {name!r}")
    return getattr(module, name)


class Oracle:
    """Labels frames with the configured method (see the module docstring).

    Args:
        calculator: "module:Name" of an ASE calculator class or factory, called with ``kwargs``.
        script: "file.py:function" of a labelling function.
        kwargs: keyword arguments of the calculator.
        base_dir: folder against which a relative script path is also tried.
    """

    def __init__(self, calculator: Optional[str] = None, script: Optional[str] = None,
                 kwargs: Optional[Dict[str, Any]] = None, base_dir: str = "."):
        self.name = calculator or script
        self._kwargs = dict(kwargs or {})
        self._factory = _load_attribute(calculator, base_dir) if calculator else None
        self._function: Optional[Callable] = _load_attribute(script, base_dir) if script else None
        self._calc = None

    def _calculator(self):
        if self._calc is None:
            self._calc = self._factory(**self._kwargs)
        return self._calc

    def label(self, atoms, frame: str) -> Labels:
        """Reference labels of ``atoms`` (not modified); ``frame`` names it in errors."""
        work = atoms.copy()
        work.calc = None
        try:
            if self._function is not None:
                raw = self._function(work)
                if not isinstance(raw, dict):
                    raise OracleError(f"oracle {self.name} returned {type(raw).__name__} for frame {frame}; return a "
                                      "dict with energy (eV), forces ((n, 3) eV/Å) and optionally stress (Voigt-6 eV/Å³)")
                energy, forces, stress = raw.get("energy"), raw.get("forces"), raw.get("stress")
            else:
                work.calc = self._calculator()
                energy, forces = work.get_potential_energy(), work.get_forces()
                stress = self._stress(work)
        except OracleError:
            raise
        except Exception as exc:  # the reference method's own failure, with the frame named
            raise OracleError(f"oracle {self.name} failed on frame {frame}: {type(exc).__name__}: {exc}") from exc
        return check_labels(energy, forces, stress, len(atoms), frame, self.name)

    @staticmethod
    def _stress(atoms) -> Optional[np.ndarray]:
        from ase.calculators.calculator import PropertyNotImplementedError

        if not atoms.pbc.all():
            return None
        try:
            return atoms.get_stress(voigt=True)
        except (PropertyNotImplementedError, NotImplementedError):
            return None


def check_labels(energy: Any, forces: Any, stress: Any, n_atoms: int, frame: str, oracle: str) -> Labels:
    """The labels as arrays, or an OracleError naming ``frame`` and what is wrong with them."""
    fix = "check the oracle's settings (and that it converged) or drop this condition"
    if energy is None or forces is None:
        missing = "energy" if energy is None else "forces"
        raise OracleError(f"oracle {oracle} returned no {missing} for frame {frame}; {fix}")
    try:
        energy_eV = float(np.asarray(energy, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise OracleError(f"oracle {oracle} returned energy {energy!r} for frame {frame}: expected one number in eV; {fix}") from None
    forces = np.asarray(forces, dtype=np.float64)
    if forces.shape != (n_atoms, 3):
        raise OracleError(f"oracle {oracle} returned forces of shape {forces.shape} for frame {frame}, which has "
                          f"{n_atoms} atoms: expected ({n_atoms}, 3) eV/Å (wrong atom count?); {fix}")
    if not np.isfinite(energy_eV) or not np.isfinite(forces).all():
        bad = "energy" if not np.isfinite(energy_eV) else f"forces on {int((~np.isfinite(forces)).any(axis=1).sum())} atom(s)"
        raise OracleError(f"oracle {oracle} returned a non-finite {bad} (NaN or inf) for frame {frame}; {fix}")
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        if stress.shape != (6,) or not np.isfinite(stress).all():
            raise OracleError(f"oracle {oracle} returned stress {stress.tolist()} for frame {frame}: expected six finite "
                              f"Voigt components (xx yy zz yz xz xy) in eV/Å³; {fix}")
    return Labels(energy_eV, forces, stress)
