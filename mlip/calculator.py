"""ASE calculator for mlip potentials.

Example:
    >>> import ase.build, mlip
    >>> pot = mlip.build_potential(mlip.ModelConfig(elements=("Cu",), cutoff=4.0, channels=4, n_layers=1))
    >>> atoms = ase.build.bulk("Cu", cubic=True)
    >>> atoms.calc = mlip.MLIPCalculator(pot)
    >>> atoms.get_forces().shape
    (4, 3)
"""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from mlip.ase_bridge import stated_total_charge, system_from_atoms
from mlip.neighbor_list import neighbor_list
from mlip.neighbor_list import resolve_backend as resolve_neighbor_backend
from mlip.potential import Potential, load_potential
from mlip.validation import check_min_distance, validate_system

#: Atoms closer than this (Å) are rejected as overlapping.
MIN_DISTANCE_A = 0.1


class MLIPCalculator(Calculator):
    """ASE calculator: energy, free_energy (eV), energies (eV/atom), forces (eV/Å), stress
    (Voigt xx yy zz yz xz xy, eV/Å³, ASE sign; needs a periodic direction). For a committee
    potential, ``calc.results`` also holds ``energy_std`` (eV) and ``forces_std`` (n_atoms,) eV/Å,
    the calibrated committee spread (:meth:`mlip.potential.Potential.committee_spread`).
    A potential with learned charges (``long_range="coulomb"``) also reports ``charges``
    (n_atoms,) in e (``atoms.get_charges()``; committee: the members' mean), summing exactly to
    the stated total charge; they cost one more feature pass, so they are computed when asked for.

    Total charge (e): ``atoms.info["total_charge"]`` (or ``info["charge"]``, or the sum of
    non-zero initial charges), default 0 (neutral). Changing it triggers a new calculation.

    Args:
        potential_or_path: a :class:`~mlip.potential.Potential`, a file path, or a shipped name.
        device: torch device for evaluation ("cpu", "cuda").
        dtype: evaluate in this dtype (default: the potential's).
        neighbor_backend: neighbour-list backend: "auto" (native when the op library is
            loaded, else matscipy), "native", "matscipy" or "reference" (:func:`mlip.neighbor_list`).
        backend: model kernels, "auto", "native" or "reference" (:mod:`mlip.backends`). A path
            or shipped name is loaded with it ("auto" when None); a Potential object is switched
            to it in place, or kept as it is when None.
        fidelity: the level of theory a multi-fidelity potential evaluates, e.g. "b3lyp"
            (default: its highest, or the one it was set to); a Potential object is switched in
            place. An unknown name raises UnknownFidelityError listing the known ones.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "charges"]

    def __init__(
        self,
        potential_or_path: Union[Potential, str, os.PathLike],
        device: Union[str, torch.device] = "cpu",
        dtype: Optional[torch.dtype] = None,
        neighbor_backend: str = "auto",
        backend: Optional[str] = None,
        fidelity: Optional[str] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(potential_or_path, Potential):
            pot = potential_or_path.to(device=device, dtype=dtype or potential_or_path.dtype)
            if backend is not None:
                pot.set_backend(backend)
            if fidelity is not None:
                pot.set_fidelity(fidelity)
        else:
            pot = load_potential(potential_or_path, device=device, dtype=dtype, backend=backend or "auto", fidelity=fidelity)
        self.potential = pot.eval()
        self.neighbor_backend = resolve_neighbor_backend(neighbor_backend)
        #: the total charge (e) of the last calculation (ASE does not track ``atoms.info``)
        self._total_charge: Optional[float] = None

    def check_state(self, atoms, tol=1e-15):
        """ASE's changed-property check, plus a change of the stated total charge (e)."""
        changes = super().check_state(atoms, tol)
        if self.atoms is not None and stated_total_charge(atoms) != self._total_charge and "total_charge" not in changes:
            changes = list(changes) + ["total_charge"]
        return changes

    def get_property(self, name, atoms=None, allow_calculation=True):
        if name == "charges" and not self.potential.has_charges:
            raise PropertyNotImplementedError(
                "this potential predicts no charges (long_range is 'none'); use a model with long_range='coulomb'"
            )
        return super().get_property(name, atoms, allow_calculation)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pot = self.potential
        self._total_charge = stated_total_charge(self.atoms)
        system = system_from_atoms(self.atoms, dtype=pot.dtype, device=pot.device)
        validate_system(system, known_atomic_numbers=pot.atomic_numbers)
        periodic = bool(system.pbc.any())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a periodic cell (set atoms.pbc and a cell)")
        edges = neighbor_list(system, pot.cutoff, backend=self.neighbor_backend)
        check_min_distance(system, edges, MIN_DISTANCE_A)
        if pot.committee_size > 1:
            pred, energy_std, forces_std = pot.predict_with_uncertainty(system, edges, compute_stress=periodic)
            self.results["energy_std"] = float(energy_std[0])
            self.results["forces_std"] = forces_std.detach().cpu().double().numpy()
        else:
            pred = pot(system, edges, compute_stress=periodic)
        self.results["energy"] = float(pred.energy[0])
        self.results["free_energy"] = self.results["energy"]
        self.results["energies"] = pred.atomic_energies.detach().cpu().double().numpy()
        self.results["forces"] = pred.forces.detach().cpu().double().numpy()
        if periodic and pred.stress is not None:
            s = pred.stress[0].detach().cpu().double().numpy()
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        if pot.has_charges and "charges" in properties:  # one more feature pass: only on request
            with torch.no_grad():
                self.results["charges"] = pot.charges(system, edges).detach().cpu().double().numpy()
