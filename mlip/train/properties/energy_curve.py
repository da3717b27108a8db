"""``kind: energy_curve``: the energy of a dimer at given separations (binding or short-range
repulsion curve).

::

    - kind: energy_curve
      dimer: [Cu, Cu]
      distances_A: [1.4, 1.7, 2.0, 2.3]
      energies_eV: [9.1, 3.2, 0.4, -1.2]
      relative_to: separated_atoms     # or: none (absolute energies); default separated_atoms
      weight: 1
      scale_eV: 0.1                    # optional, default the RMS of the target energies

With ``relative_to: separated_atoms`` the model's energy is E(r) − E(atom 1 alone) − E(atom 2
alone), the binding energy a reference method reports. Residuals: (E_k − E_k,target)/scale.
Logged: ``mae_eV`` and ``max_abs_error_eV``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

import numpy as np
import torch
from torch import Tensor

from mlip.errors import ConfigError
from mlip.train.properties.structure import Structure
from mlip.train.properties.target import PropertyTarget, check_keys, number, numbers

#: closest separation a curve may ask for, Å
MIN_DISTANCE_A = 0.1


def _atoms_structure(symbols, positions, description: str) -> Structure:
    from ase import Atoms

    atoms = Atoms(symbols, positions=positions)
    return Structure(tuple(int(z) for z in atoms.numbers), tuple(tuple(float(x) for x in p) for p in positions),
                     ((0.0, 0.0, 0.0),) * 3, (False, False, False), tuple(float(m) for m in atoms.get_masses()),
                     description)


@dataclass(frozen=True)
class EnergyCurveTarget(PropertyTarget):
    dimers: Tuple[Structure, ...]
    atoms: Tuple[Structure, ...]  # the separated atoms (empty: absolute energies)
    energies_eV: Tuple[float, ...]
    scale_eV: float

    kind = "energy_curve"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str, name: str, weight: float) -> "EnergyCurveTarget":
        check_keys(entry, where, ["dimer", "distances_A", "energies_eV"], ["relative_to", "scale_eV"])
        if "structure" in entry:
            raise ConfigError(f"{where}: an energy_curve target takes 'dimer: [A, B]' (two element symbols), not a structure")
        pair = entry["dimer"]
        from ase.data import atomic_numbers

        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(p in atomic_numbers for p in pair)):
            raise ConfigError(f"{where}: dimer must be two chemical symbols, e.g. [Cu, Cu], got {pair!r}")
        distances = numbers(entry, "distances_A", where, positive=True)
        energies = numbers(entry, "energies_eV", where)
        if len(distances) != len(energies):
            raise ConfigError(f"{where}: {len(distances)} distances_A but {len(energies)} energies_eV; give one energy per distance")
        if min(distances) < MIN_DISTANCE_A:
            raise ConfigError(f"{where}: distances_A must be >= {MIN_DISTANCE_A} Å, got {min(distances)}")
        relative = entry.get("relative_to", "separated_atoms")
        if relative not in ("separated_atoms", "none"):
            raise ConfigError(f"{where}: relative_to must be 'separated_atoms' or 'none', got {relative!r}")
        dimers = tuple(_atoms_structure(list(pair), [(0.0, 0.0, 0.0), (0.0, 0.0, r)], f"{pair[0]}-{pair[1]} at {r} Å")
                       for r in distances)
        atoms = () if relative == "none" else tuple(_atoms_structure([p], [(0.0, 0.0, 0.0)], p) for p in pair)
        rms = float(np.sqrt(np.mean(np.square(energies))))
        scale = number(entry, "scale_eV", where, positive=True) if "scale_eV" in entry else max(rms, 1e-3)
        return cls(name, weight, dimers, atoms, energies, scale)

    def structures(self) -> Tuple[Structure, ...]:
        return self.dimers + self.atoms

    def energies(self, evaluation) -> Tensor:
        """(n,) model energies at the distances, eV (minus the separated atoms' unless absolute)."""
        e = torch.stack([evaluation.energy(s) for s in self.dimers])
        for atom in self.atoms:
            e = e - evaluation.energy(atom)
        return e

    def residuals(self, evaluation) -> Tensor:
        e = self.energies(evaluation)
        return (e - torch.tensor(self.energies_eV, dtype=e.dtype, device=e.device)) / self.scale_eV

    def values(self, evaluation) -> Dict[str, float]:
        err = self.energies(evaluation).detach().cpu().double().numpy() - np.asarray(self.energies_eV)
        return {"mae_eV": float(np.mean(np.abs(err))), "max_abs_error_eV": float(np.max(np.abs(err)))}
