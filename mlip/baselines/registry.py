"""Baseline terms from spec dicts (YAML/JSON-friendly), strict about keys.

Kinds and their keys (lengths Å, energies eV, charges e):

=================  ===========================================================================
``zbl``            ``cutoff`` (None: covalent-radius sums), ``exponent`` (6)
``lennard_jones``  ``epsilon``, ``sigma`` (a number, or ``{symbol: value}`` for every element),
                   ``cutoff``, ``switch_on`` (0.8 cutoff), ``pairs`` ``{"Na-Cl": [ε, σ]}``
``point_charges``  ``charges`` ``{symbol: q}``, ``r_on`` (0), ``r_off`` (0: bare Coulomb),
                   ``tolerance`` (1e-6), ``real_space_cutoff`` (10)
``frozen_potential`` ``path`` of a saved mlip potential
``ase``            ``calculator`` (``gfn2-xtb``, ``gfn1-xtb``, ``emt`` or ``module:Class``), ``params``
=================  ===========================================================================

Example:
    >>> terms, specs, external = build_baselines([{"kind": "zbl"}], [1, 6, 8])
    >>> type(terms[0]).__name__, specs[0]["exponent"], external is None
    ('ZBL', 6, True)
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from torch import nn

from mlip.errors import ConfigError
from mlip.baselines.ase_baseline import ExternalBaseline

#: ``(load_potential, build_potential)`` handed down by :mod:`mlip.potential`
PotentialFiles = Tuple[Callable[..., Any], Callable[..., Any]]

KINDS = ("zbl", "lennard_jones", "point_charges", "frozen_potential", "ase")


def _check_keys(spec: Dict[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(spec) - set(allowed) - {"kind"})
    if unknown:
        raise ConfigError(f"{spec['kind']} baseline: unknown key(s) {unknown}; valid: {sorted(allowed)}")


def _number(spec, key, default=None, positive=True) -> Optional[float]:
    v = spec.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (positive and v <= 0):
        raise ConfigError(f"{spec['kind']} baseline: {key} must be a {'positive ' if positive else ''}number, got {v!r}")
    return float(v)


def _per_element(spec, key, symbols) -> List[float]:
    v = spec.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [float(v)] * len(symbols)
    if isinstance(v, dict):
        missing = [s for s in symbols if s not in v]
        if missing:
            raise ConfigError(f"{spec['kind']} baseline: {key} lacks element(s) {missing}")
        return [float(v[s]) for s in symbols]
    raise ConfigError(f"{spec['kind']} baseline: {key} must be a number or a {{symbol: value}} mapping, got {v!r}")


def build_term(spec: Dict[str, Any], atomic_numbers: Sequence[int], load_weights: bool = True,
               potential_files: Optional[PotentialFiles] = None) -> Tuple[nn.Module, Dict[str, Any]]:
    """One torch baseline term and its resolved (complete, JSON-serialisable) spec.
    ``potential_files``: ``(load_potential, build_potential)`` of :mod:`mlip.potential`, which
    a ``frozen_potential`` term needs (passed down by the layer above, never imported)."""
    from ase.data import atomic_numbers as z_of, chemical_symbols

    symbols = [chemical_symbols[int(z)] for z in atomic_numbers]
    kind = spec.get("kind")
    if kind == "zbl":
        _check_keys(spec, ["cutoff", "exponent"])
        from mlip.physics.zbl import ZBL

        exponent = spec.get("exponent", 6)
        if not isinstance(exponent, int) or isinstance(exponent, bool) or exponent < 2:
            raise ConfigError(f"zbl baseline: exponent must be an integer >= 2, got {exponent!r}")
        cutoff = _number(spec, "cutoff")
        return ZBL(atomic_numbers, cutoff, exponent), {"kind": kind, "cutoff": cutoff, "exponent": exponent}
    if kind == "lennard_jones":
        _check_keys(spec, ["epsilon", "sigma", "cutoff", "switch_on", "pairs"])
        from mlip.physics.lennard_jones import LennardJones

        cutoff = _number(spec, "cutoff")
        if cutoff is None:
            raise ConfigError("lennard_jones baseline: give cutoff (Å)")
        switch = _number(spec, "switch_on", 0.8 * cutoff)
        if switch >= cutoff:
            raise ConfigError(f"lennard_jones baseline: switch_on {switch} must be < cutoff {cutoff}")
        eps, sig = _per_element(spec, "epsilon", symbols), _per_element(spec, "sigma", symbols)
        pairs = {}
        for name, value in (spec.get("pairs") or {}).items():
            a, _, b = str(name).partition("-")
            if a not in symbols or b not in symbols or not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ConfigError(f"lennard_jones baseline: pairs entry {name!r}: {value!r} should be 'A-B': [epsilon, sigma] for known elements")
            pairs[(z_of[a], z_of[b])] = (float(value[0]), float(value[1]))
        resolved = {"kind": kind, "epsilon": dict(zip(symbols, eps)), "sigma": dict(zip(symbols, sig)), "cutoff": cutoff,
                    "switch_on": switch, "pairs": {k: list(v) for k, v in (spec.get("pairs") or {}).items()}}
        return LennardJones(atomic_numbers, eps, sig, cutoff, switch, pairs), resolved
    if kind == "point_charges":
        _check_keys(spec, ["charges", "r_on", "r_off", "tolerance", "real_space_cutoff"])
        from mlip.physics.point_charges import PointCharges

        if not isinstance(spec.get("charges"), dict):
            raise ConfigError("point_charges baseline: charges must be a {symbol: charge in e} mapping")
        charges = _per_element(spec, "charges", symbols)
        r_on = _number(spec, "r_on", 0.0, positive=False)
        r_off = _number(spec, "r_off", 0.0, positive=False)
        tol = _number(spec, "tolerance", 1e-6)
        rc = _number(spec, "real_space_cutoff", 10.0)
        if r_off > 0 and not r_on < r_off:
            raise ConfigError(f"point_charges baseline: r_on {r_on} must be < r_off {r_off}")
        if not tol < 1:
            raise ConfigError(f"point_charges baseline: tolerance must be in (0, 1), got {tol}")
        resolved = {"kind": kind, "charges": dict(zip(symbols, charges)), "r_on": r_on, "r_off": r_off, "tolerance": tol,
                    "real_space_cutoff": rc}
        return PointCharges(atomic_numbers, charges, r_on, r_off, tol, rc), resolved
    if kind == "frozen_potential":
        from mlip.baselines.frozen_potential import frozen_from_spec

        if potential_files is None:
            raise ConfigError("a frozen_potential baseline is built through mlip.build_potential / "
                              "mlip.load_potential (they pass the potential-file functions down)")
        return frozen_from_spec(spec, atomic_numbers, load_weights, *potential_files)
    raise ConfigError(f"unknown baseline kind {kind!r}; choose one of {list(KINDS)}")


def build_baselines(
    specs: Sequence[Dict[str, Any]], atomic_numbers: Sequence[int], load_weights: bool = True,
    potential_files: Optional[PotentialFiles] = None,
) -> Tuple[List[nn.Module], List[Dict[str, Any]], Optional[ExternalBaseline]]:
    """Torch terms (in order), their resolved specs, and the external ASE baseline (or None).

    At most one ``ase`` baseline is allowed. ``potential_files`` = ``(load_potential,
    build_potential)`` is needed by ``frozen_potential`` terms only (see :func:`build_term`).
    """
    if not isinstance(specs, (list, tuple)):
        raise ConfigError(f"baselines must be a list of {{kind: ...}} mappings, got {type(specs).__name__}")
    terms: List[nn.Module] = []
    resolved: List[Dict[str, Any]] = []
    external: Optional[ExternalBaseline] = None
    for spec in specs:
        if not isinstance(spec, dict) or "kind" not in spec:
            raise ConfigError(f"each baseline must be a mapping with a 'kind' (one of {list(KINDS)}), got {spec!r}")
        spec = copy.deepcopy(spec)
        if spec["kind"] == "ase":
            if external is not None:
                raise ConfigError("at most one ase (external calculator) baseline per potential")
            external = ExternalBaseline(spec)
            continue
        term, r = build_term(spec, atomic_numbers, load_weights, potential_files)
        terms.append(term)
        resolved.append(r)
    return terms, resolved, external
