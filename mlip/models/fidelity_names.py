"""Names of fidelities (levels of theory) and their lookup, with errors that list the known ones.

A multi-fidelity model declares its fidelities lowest first, e.g. ``("xtb", "b3lyp")``; the
last (highest) is the default at inference. Lookups of a name the model does not know raise
:class:`~mlip.errors.UnknownFidelityError` naming the known fidelities and the fix.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

from mlip.errors import ConfigError, UnknownFidelityError


def check_fidelity_names(names, where: str, minimum: int = 2) -> Tuple[str, ...]:
    """``names`` as a tuple of unique non-empty strings: empty (one fidelity) or at least
    ``minimum`` (a model needs two; data, e.g. for fine-tuning, may carry one)."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ConfigError(f"{where}: give a list of fidelity names, lowest first, e.g. [xtb, b3lyp]; got {names!r}")
    out = tuple(names)
    for name in out:
        if not isinstance(name, str) or not name or name != name.strip():
            raise ConfigError(f"{where}: fidelity names must be non-empty strings without surrounding spaces, got {name!r}")
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: duplicate fidelity names in {list(out)}")
    if 0 < len(out) < minimum:
        raise ConfigError(f"{where}: a multi-fidelity model needs at least two fidelities, got {list(out)}; "
                          "for one level of theory leave fidelities empty")
    return out


def describe_fidelities(known: Sequence[str]) -> str:
    """``"['xtb', 'b3lyp'] (lowest to highest; default 'b3lyp')"`` or a single-fidelity note."""
    if not known:
        return "none (a single-fidelity potential)"
    return f"{list(known)} (lowest to highest; default {known[-1]!r})"


def fidelity_index(name: Optional[str], known: Sequence[str], what: str = "fidelity") -> int:
    """Position of ``name`` in ``known`` (None: the highest, the default). Raises
    UnknownFidelityError for a name ``known`` lacks, or any name for a single-fidelity model."""
    if not known:
        if name is None:
            return 0
        raise UnknownFidelityError(
            f"{what} {name!r} asked of a single-fidelity potential (it knows no fidelities); "
            "drop the fidelity, or use a potential trained with data.fidelities"
        )
    if name is None:
        return len(known) - 1
    if name not in known:
        raise UnknownFidelityError(f"unknown {what} {name!r}: this potential knows {describe_fidelities(known)}")
    return list(known).index(name)
