"""``ModelConfig``: the architecture of an equivariant potential, strict and serialisable.

Unknown keys, wrong types and invalid values raise :class:`~mlip.errors.ConfigError` naming
the key, so typos never pass silently.

Example:
    >>> cfg = ModelConfig(elements=("H", "O"), cutoff=5.0, l_max=2, channels=32, n_layers=4)
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from mlip.errors import ConfigError

@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the NequIP-style model.

    Attributes:
        elements: chemical symbols the model knows, in a fixed order.
        cutoff: radial cutoff r_c, Å.
        l_max: highest degree of features and edge spherical harmonics (0..3).
        channels: features per degree.
        n_layers: interaction blocks (receptive field n_layers · cutoff).
        n_radial_basis: Bessel functions.
        radial_hidden, radial_layers: width and depth of the radial MLP.
        envelope_exponent: p of the polynomial cutoff envelope (smoothness at r_c).
        parity: True = E(3)/O(3) equivariant (reflections too); False = SE(3) only (chiral).
        readout_hidden: width of the per-atom energy MLP.
        avg_num_neighbors: normalisation of the neighbour sum (set from training data).
        long_range: "none", or "coulomb": a charge head on the final invariant scalars predicts
            per-atom charges (total charge per system exact) whose Coulomb energy, damped
            smoothly to zero inside ``cutoff``, is added (direct sum for finite systems, Ewald
            for periodic ones; see :mod:`mlip.physics.coulomb`).
        coulomb_tolerance: relative accuracy of the Ewald sums (0 < tol < 1).
        coulomb_real_space_cutoff: Ewald real-space cutoff, Å (raised to ``cutoff`` if smaller).
        fidelities: names of the levels of theory of a multi-fidelity model, lowest first
            (e.g. ``("xtb", "b3lyp")``); the last is the default at inference. Empty: one
            fidelity (see :mod:`mlip.models.multi_fidelity`).
        fidelity_coupling: "rho_delta" (f_k = ρ_k[Z]·f_{k−1} + δ_k, ρ learned per element,
            initialised 1) or "heads" (independent per-fidelity readouts on the shared trunk).
    """

    elements: Tuple[str, ...]
    cutoff: float
    l_max: int = 2
    channels: int = 32
    n_layers: int = 4
    n_radial_basis: int = 8
    radial_hidden: int = 64
    radial_layers: int = 2
    envelope_exponent: int = 6
    parity: bool = True
    readout_hidden: int = 16
    avg_num_neighbors: float = 20.0
    long_range: str = "none"
    coulomb_tolerance: float = 1e-6
    coulomb_real_space_cutoff: float = 10.0
    fidelities: Tuple[str, ...] = ()
    fidelity_coupling: str = "rho_delta"

    def __post_init__(self):
        from ase.data import atomic_numbers as _z

        object.__setattr__(self, "elements", tuple(self.elements))
        if not self.elements:
            raise ConfigError("elements: give at least one chemical symbol, e.g. ['H', 'O']")
        for el in self.elements:
            if el not in _z or el == "X":
                raise ConfigError(f"elements: {el!r} is not a chemical symbol")
        if len(set(self.elements)) != len(self.elements):
            raise ConfigError(f"elements: duplicates in {list(self.elements)}")
        checks = {
            "cutoff": (self.cutoff, float, lambda v: v > 0, "> 0 Å"),
            "l_max": (self.l_max, int, lambda v: 0 <= v <= 3, "in 0..3"),
            "channels": (self.channels, int, lambda v: v >= 1, ">= 1"),
            "n_layers": (self.n_layers, int, lambda v: v >= 1, ">= 1"),
            "n_radial_basis": (self.n_radial_basis, int, lambda v: v >= 1, ">= 1"),
            "radial_hidden": (self.radial_hidden, int, lambda v: v >= 1, ">= 1"),
            "radial_layers": (self.radial_layers, int, lambda v: v >= 0, ">= 0"),
            "envelope_exponent": (self.envelope_exponent, int, lambda v: v >= 2, ">= 2"),
            "readout_hidden": (self.readout_hidden, int, lambda v: v >= 1, ">= 1"),
            "avg_num_neighbors": (self.avg_num_neighbors, float, lambda v: v > 0, "> 0"),
            "coulomb_tolerance": (self.coulomb_tolerance, float, lambda v: 0 < v < 1, "in (0, 1)"),
            "coulomb_real_space_cutoff": (self.coulomb_real_space_cutoff, float, lambda v: v > 0, "> 0 Å"),
        }
        for name, (value, typ, ok, need) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, float) if typ is float else int):
                raise ConfigError(f"{name}: expected {typ.__name__}, got {value!r}")
            if typ is float:
                object.__setattr__(self, name, float(value))
            if not ok(value):
                raise ConfigError(f"{name}: must be {need}, got {value!r}")
        if not isinstance(self.parity, bool):
            raise ConfigError(f"parity: expected true or false, got {self.parity!r}")
        if self.long_range not in ("none", "coulomb"):
            raise ConfigError(f"long_range: must be 'none' or 'coulomb', got {self.long_range!r}")
        from mlip.models.fidelity_names import check_fidelity_names

        object.__setattr__(self, "fidelities", check_fidelity_names(self.fidelities, "fidelities"))
        if self.fidelity_coupling not in ("rho_delta", "heads"):
            raise ConfigError(f"fidelity_coupling: must be 'rho_delta' or 'heads', got {self.fidelity_coupling!r}")
        if self.fidelities and self.long_range != "none":
            raise ConfigError("fidelities: multi-fidelity models with long_range='coulomb' are not supported; "
                              "use long_range: none or one fidelity")

    @property
    def atomic_numbers(self) -> Tuple[int, ...]:
        """Atomic numbers of ``elements``, same order."""
        from ase.data import atomic_numbers as _z

        return tuple(int(_z[e]) for e in self.elements)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON/YAML-serialisable dict."""
        d = dataclasses.asdict(self)
        d["elements"] = list(self.elements)
        d["fidelities"] = list(self.fidelities)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ModelConfig":
        """Build from a dict; unknown or missing required keys raise ConfigError."""
        if not isinstance(d, dict):
            raise ConfigError(f"model config must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        if "backend" in d:
            raise ConfigError(
                "model config key 'backend' was removed: the kernels are chosen when a potential is "
                "evaluated, not stored with it. Put `backend: auto|native|reference` in the `training:` "
                "section of a training config, or pass backend= to mlip.load_potential / MLIPCalculator"
            )
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model config key(s) {unknown}; valid keys: {sorted(known)}")
        for req in ("elements", "cutoff"):
            if req not in d:
                raise ConfigError(f"model config is missing the required key {req!r}")
        return cls(**d)
