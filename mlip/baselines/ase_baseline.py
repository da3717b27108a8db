"""An ASE calculator as a baseline (GFN2-xTB from tblite, EMT, ...), evaluated outside torch.

The saved potential records the calculator and its settings (a spec dict); its energy, forces
and stress are added to the torch terms' by :class:`~mlip.potential.Potential`. They carry no
gradient with respect to the model's weights, which is all training needs (the network learns
target − baseline, with the baseline labels computed once per dataset and cached).

Spec::

    {"kind": "ase", "calculator": "gfn2-xtb"}                     a named preset
    {"kind": "ase", "calculator": "emt"}
    {"kind": "ase", "calculator": "tblite.ase:TBLite", "params": {"method": "GFN1-xTB"}}

A ``"module:Class"`` calculator must be a subclass of ASE's ``BaseCalculator``; ``params``
(JSON values) are its keyword arguments. The total charge of a system, when stated, is passed
as initial charges on the atoms (the ASE convention tblite follows).

If the calculator's package is not installed, :meth:`ExternalBaseline.check_available` raises
:class:`~mlip.errors.BackendUnavailableError` naming what to install: a potential with such a
baseline refuses to load rather than silently returning the network's residual alone.
"""
from __future__ import annotations

import copy
import importlib
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from mlip.errors import BackendUnavailableError, ConfigError
from mlip.types import Prediction, System

#: Named presets: module, class, keyword arguments, how to install.
PRESETS: Dict[str, Tuple[str, str, Dict[str, Any], str]] = {
    "gfn2-xtb": ("tblite.ase", "TBLite", {"method": "GFN2-xTB", "verbosity": 0}, "pip install tblite"),
    "gfn1-xtb": ("tblite.ase", "TBLite", {"method": "GFN1-xTB", "verbosity": 0}, "pip install tblite"),
    "emt": ("ase.calculators.emt", "EMT", {}, "pip install ase"),
}


def normalize_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Validate an ``{"kind": "ase", ...}`` spec; returns a canonical JSON-serialisable copy."""
    unknown = sorted(set(spec) - {"kind", "calculator", "params"})
    if unknown:
        raise ConfigError(f"ase baseline: unknown key(s) {unknown}; valid: ['calculator', 'kind', 'params']")
    name = spec.get("calculator")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"ase baseline: 'calculator' must be one of {sorted(PRESETS)} or 'module:Class', got {name!r}")
    if name not in PRESETS and ":" not in name:
        raise ConfigError(f"ase baseline: unknown calculator {name!r}; use one of {sorted(PRESETS)} or 'module:Class'")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError("ase baseline: 'params' must be a mapping of keyword arguments")
    return {"kind": "ase", "calculator": name, "params": copy.deepcopy(params)}


class ExternalBaseline:
    """A lazily created ASE calculator evaluated on :class:`~mlip.types.System` batches.

    Copies (``copy.deepcopy``, e.g. the trainer's EMA copy) share the spec, not the calculator.
    """

    def __init__(self, spec: Dict[str, Any]):
        self.spec = normalize_spec(spec)
        self._calc = None

    def __deepcopy__(self, memo):
        return ExternalBaseline(self.spec)

    def __getstate__(self):
        return {"spec": self.spec}

    def __setstate__(self, state):
        self.spec, self._calc = state["spec"], None

    def _resolve(self) -> Tuple[str, str, Dict[str, Any], str]:
        name = self.spec["calculator"]
        if name in PRESETS:
            module, cls, params, install = PRESETS[name]
            return module, cls, {**params, **self.spec["params"]}, install
        module, cls = name.split(":", 1)
        return module, cls, dict(self.spec["params"]), f"install the package that provides {module}"

    def check_available(self) -> None:
        """Import the calculator class; raise BackendUnavailableError if it is not installed."""
        self._calculator_class()

    def _calculator_class(self):
        module, cls, _, install = self._resolve()
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            raise BackendUnavailableError(
                f"this potential needs the ASE calculator {self.spec['calculator']!r} (module {module!r}) as its "
                f"baseline, but it is not installed here ({exc}); {install}"
            ) from exc
        klass = getattr(mod, cls, None)
        from ase.calculators.calculator import BaseCalculator

        if not (isinstance(klass, type) and issubclass(klass, BaseCalculator)):
            raise BackendUnavailableError(f"{module}:{cls} is not an ASE calculator class")
        return klass

    @property
    def calculator(self):
        if self._calc is None:
            _, _, params, _ = self._resolve()
            self._calc = self._calculator_class()(**params)
        return self._calc

    def label_atoms(self, atoms, total_charge: float = 0.0, compute_stress: bool = False):
        """(energy eV, forces (n, 3) eV/Å, stress (3, 3) eV/Å³ or None) of one ``ase.Atoms``."""
        atoms = atoms.copy()
        if total_charge != 0.0:
            q = np.zeros(len(atoms))
            q[0] = total_charge
            atoms.set_initial_charges(q)
        atoms.calc = self.calculator
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), dtype=np.float64)
        stress = None
        if compute_stress and bool(np.all(atoms.pbc)):
            xx, yy, zz, yz, xz, xy = atoms.get_stress()
            stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        atoms.calc = None
        return energy, forces, stress

    def evaluate(self, system: System, compute_stress: bool) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Energy (n_systems,) eV, forces (n_atoms, 3) eV/Å, stress (n_systems, 3, 3) eV/Å³ or
        None, as float64 CPU tensors (no gradient)."""
        from mlip.ase_bridge import atoms_from_system

        images = atoms_from_system(system)
        charges = [0.0] * len(images) if system.total_charge is None else [float(q) for q in system.total_charge]
        energies: List[float] = []
        forces: List[np.ndarray] = []
        stresses: List[np.ndarray] = []
        for atoms, q in zip(images, charges):
            e, f, s = self.label_atoms(atoms, q, compute_stress)
            energies.append(e)
            forces.append(f)
            stresses.append(np.zeros((3, 3)) if s is None else s)
        stress = torch.tensor(np.stack(stresses)) if compute_stress else None
        return torch.tensor(energies, dtype=torch.float64), torch.tensor(np.concatenate(forces)), stress

    def add_to(self, system: System, pred: Prediction, compute_stress: bool) -> Prediction:
        """``pred`` plus this baseline's energy (eV, shared evenly among each system's atoms in
        ``atomic_energies``), forces (eV/Å) and stress (eV/Å³)."""
        e, f, s = self.evaluate(system, compute_stress)
        like = pred.energy
        e, f = e.to(like.device, like.dtype), f.to(like.device, like.dtype)
        counts = torch.bincount(system.system_index, minlength=e.shape[0]).to(like.dtype)
        atomic = pred.atomic_energies
        if atomic is not None:
            atomic = atomic + (e / counts)[system.system_index]
        stress = pred.stress
        if stress is not None and s is not None:
            stress = stress + s.to(like.device, like.dtype)
        return Prediction(pred.energy + e, pred.forces + f, stress, atomic)
