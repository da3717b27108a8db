"""A saved mlip potential as a frozen baseline (transfer learning: learn only the difference).

The frozen potential's torch terms (its network and its own torch baselines) become one energy
term of the new potential with ``requires_grad = False``. The new potential file embeds the
frozen weights and architecture (the spec records the source path, config and committee size),
so it is self-contained: loading it never needs the original file.

Reading and building potentials is the job of :mod:`mlip.potential`, one layer up: a potential
holds baselines, and this baseline holds a potential. So that imports keep pointing down,
:func:`frozen_from_spec` is handed those two functions by its caller
(:func:`mlip.potential.build_potential` passes them through the registry) instead of importing
them.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Sequence, Tuple

from torch import Tensor, nn

from mlip.errors import ConfigError
from mlip.models.config import ModelConfig
from mlip.models.force_model import ForceModel
from mlip.types import Edges, System

class FrozenPotential(nn.Module):
    """``forward(system, edges) -> (n_atoms,)`` eV: the atomic energies of a frozen ForceModel."""

    def __init__(self, model: ForceModel, cutoff: float):
        super().__init__()
        self.model = model
        self.cutoff = float(cutoff)
        for p in self.model.parameters():
            p.requires_grad_(False)

    def forward(self, system: System, edges: Edges) -> Tensor:
        return self.model.atomic_energies(system, edges)


def frozen_from_spec(spec: Dict[str, Any], atomic_numbers: Sequence[int], load_weights: bool,
                     load_potential: Callable[..., Any], build_potential: Callable[..., Any]) -> Tuple[FrozenPotential, Dict[str, Any]]:
    """Build the term from ``{"kind": "frozen_potential", "path": ...}`` (weights read from the
    file) or, with ``load_weights=False``, from an embedded architecture (weights come later
    from the enclosing potential's state dict). ``load_potential`` / ``build_potential``: those
    of :mod:`mlip.potential`, passed down by it. Returns (term, resolved spec)."""
    unknown = sorted(set(spec) - {"kind", "path", "config", "committee_size", "baselines"})
    if unknown:
        raise ConfigError(f"frozen_potential baseline: unknown key(s) {unknown}; give 'path'")
    if load_weights or "config" not in spec:
        if not isinstance(spec.get("path"), str):
            raise ConfigError("frozen_potential baseline: give 'path', the potential file to freeze")
        pot = load_potential(spec["path"])
    else:
        pot = build_potential(
            ModelConfig.from_dict(dict(spec["config"])),
            committee_size=int(spec.get("committee_size", 1)),
            baselines=list(spec.get("baselines") or []),
            load_weights=False,
        )
    if pot.external is not None:
        raise ConfigError(
            f"frozen_potential baseline {spec.get('path')!r} has an external (ASE) baseline itself; "
            "list that calculator among the new potential's baselines instead"
        )
    missing = sorted(set(int(z) for z in atomic_numbers) - set(pot.atomic_numbers))
    if missing:
        from ase.data import chemical_symbols

        raise ConfigError(
            f"frozen_potential baseline {spec.get('path')!r} does not know element(s) "
            f"{[chemical_symbols[z] for z in missing]} (it knows {list(pot.elements)})"
        )
    resolved = {
        "kind": "frozen_potential",
        "path": str(spec.get("path")),
        "config": pot.config.to_dict(),
        "committee_size": pot.committee_size,
        "baselines": list(pot.baseline_specs),
    }
    return FrozenPotential(pot.model, pot.cutoff), resolved
