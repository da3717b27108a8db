"""Irreducible-representation lists of O(3) (``Irreps``) and tensor-product selection rules.

An irrep is (l, parity): degree l >= 0 and parity +1 ("e", even) or -1 ("o", odd) under
inversion. ``Irreps`` is an immutable, hashable value: an ordered tuple of (mul, l, parity)
entries, written in e3nn's string syntax, e.g. ``"32x0e + 32x1o + 32x2e"`` (the multiplicity
defaults to 1; ``"y"`` means the natural parity (-1)^l, as for spherical harmonics).

mlip's features use the layout (n_atoms, channels, (l_max + 1)**2): each channel carries one
copy of ``Irreps.natural(l_max)`` = "1x0e+1x1o+1x2e+..." along the last axis, ordered l-major
and m = -l..l as in :mod:`mlip.o3.spherical_harmonics`; ``slices()`` gives the per-l blocks.
"""
import re
from typing import Iterable, Iterator, List, Tuple, Union, overload

__all__ = ["Irreps", "tensor_product_paths"]

_TOKEN = re.compile(r"^(?:(\d+)\s*x\s*)?(\d+)\s*([eoy])$")
_PARITY_CHAR = {1: "e", -1: "o"}

Entry = Tuple[int, int, int]  # (mul, l, parity)


def _parse(text: str) -> Tuple[Entry, ...]:
    if not text.strip():
        return ()
    entries = []
    for raw in text.split("+"):
        token = raw.strip()
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(
                f"Irreps: cannot parse token {token!r} in {text!r} "
                "(expected e.g. '32x1o', '0e' or '2y')"
            )
        mul = int(match.group(1)) if match.group(1) is not None else 1
        l = int(match.group(2))
        char = match.group(3)
        parity = (-1) ** l if char == "y" else (1 if char == "e" else -1)
        entries.append((mul, l, parity))
    return tuple(entries)


def _check_entry(entry: object) -> Entry:
    if not (isinstance(entry, tuple) and len(entry) == 3):
        raise ValueError(f"Irreps: entries must be (mul, l, parity) tuples, got {entry!r}")
    mul, l, parity = entry
    for name, value in (("mul", mul), ("l", l)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"Irreps: {name} must be an int >= 0 in entry {entry!r}")
    if parity not in (1, -1) or isinstance(parity, bool):
        raise ValueError(f"Irreps: parity must be +1 or -1 in entry {entry!r}")
    return (mul, l, parity)


class Irreps:
    """Immutable list of (mul, l, parity) with e3nn-style string syntax.

    Args:
        irreps: a string such as ``"32x0e + 32x1o"``, another ``Irreps``, or an iterable of
            (mul, l, parity) tuples with parity +1 / -1.

    Example:
        >>> irreps = Irreps("32x0e + 32x1o + 32x2e")
        >>> irreps.dim, irreps.num_irreps, irreps.lmax
        (288, 96, 2)
        >>> str(irreps)
        '32x0e+32x1o+32x2e'
        >>> list(irreps)[1]
        (32, 1, -1)
        >>> irreps[1:]
        Irreps('32x1o+32x2e')
        >>> irreps.slices()[1]
        slice(32, 128, None)
        >>> Irreps.natural(2) == Irreps("0e + 1o + 2e") == Irreps("0y+1y+2y")
        True
    """

    __slots__ = ("_entries",)
    _entries: Tuple[Entry, ...]

    def __init__(self, irreps: Union[str, "Irreps", Iterable[Entry]] = "") -> None:
        if isinstance(irreps, Irreps):
            entries = irreps._entries
        elif isinstance(irreps, str):
            entries = _parse(irreps)
        else:
            entries = tuple(_check_entry(tuple(e) if isinstance(e, list) else e) for e in irreps)
        object.__setattr__(self, "_entries", entries)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Irreps is immutable")

    @classmethod
    def natural(cls, l_max: int, mul: int = 1) -> "Irreps":
        """``mul`` copies of every l = 0..l_max with natural parity (-1)^l: "0e+1o+2e+..."."""
        if isinstance(l_max, bool) or not isinstance(l_max, int) or l_max < 0:
            raise ValueError(f"Irreps.natural: l_max must be an int >= 0, got {l_max!r}")
        return cls([(mul, l, (-1) ** l) for l in range(l_max + 1)])

    # ----------------------------------------------------------------- sizes
    @property
    def dim(self) -> int:
        """Total width sum(mul * (2l + 1))."""
        return sum(mul * (2 * l + 1) for mul, l, _ in self._entries)

    @property
    def num_irreps(self) -> int:
        """Total number of irrep copies sum(mul)."""
        return sum(mul for mul, _, _ in self._entries)

    @property
    def ls(self) -> List[int]:
        """l of every irrep copy, in order (each l repeated mul times), as in e3nn."""
        return [l for mul, l, _ in self._entries for _ in range(mul)]

    @property
    def lmax(self) -> int:
        """Largest l present (raises ValueError when empty)."""
        if not self._entries:
            raise ValueError("Irreps.lmax: empty Irreps")
        return max(l for _, l, _ in self._entries)

    @property
    def is_natural_parity(self) -> bool:
        """True when every entry has parity (-1)^l (the O(3) layout of mlip's features)."""
        return all(p == (-1) ** l for _, l, p in self._entries)

    def slices(self) -> List[slice]:
        """Slice of the flat dimension occupied by each entry, in order."""
        out, start = [], 0
        for mul, l, _ in self._entries:
            stop = start + mul * (2 * l + 1)
            out.append(slice(start, stop))
            start = stop
        return out

    # ------------------------------------------------------- sequence protocol
    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> "Irreps": ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Irreps(self._entries[index])
        return self._entries[index]

    def __add__(self, other: Union[str, "Irreps"]) -> "Irreps":
        """Concatenation (no simplification): Irreps("0e") + "1o" == Irreps("0e+1o")."""
        return Irreps(self._entries + Irreps(other)._entries)

    # ------------------------------------------------------------- value API
    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Irreps(other)
            except ValueError:
                return False
        return isinstance(other, Irreps) and self._entries == other._entries

    def __hash__(self) -> int:
        return hash(self._entries)

    def __str__(self) -> str:
        return "+".join(f"{mul}x{l}{_PARITY_CHAR[p]}" for mul, l, p in self._entries)

    def __repr__(self) -> str:
        return f"Irreps({str(self)!r})"


def tensor_product_paths(
    l_max_in: int, l_max_sh: int, l_max_out: int, parity: bool
) -> List[Tuple[int, int, int]]:
    """All (l1, l2, l3) couplings of features (l1 <= l_max_in) with harmonics (l2 <= l_max_sh)
    into outputs l3 <= l_max_out, sorted lexicographically.

    Selection rules: |l1 - l2| <= l3 <= l1 + l2 (triangle); with ``parity=True`` also
    l1 + l2 + l3 even, which are exactly the O(3)-equivariant paths when every degree l has
    natural parity (-1)^l. With ``parity=False`` all triangle paths (SO(3) only; the odd ones
    behave like pseudo-tensors under inversion).

    Example:
        >>> tensor_product_paths(1, 1, 1, parity=True)
        [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0)]
        >>> tensor_product_paths(1, 1, 1, parity=False)
        [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 1)]
    """
    for name, value in (("l_max_in", l_max_in), ("l_max_sh", l_max_sh), ("l_max_out", l_max_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"tensor_product_paths: {name} must be an int >= 0, got {value!r}")
    paths = []
    for l1 in range(l_max_in + 1):
        for l2 in range(l_max_sh + 1):
            for l3 in range(abs(l1 - l2), min(l1 + l2, l_max_out) + 1):
                if not parity or (l1 + l2 + l3) % 2 == 0:
                    paths.append((l1, l2, l3))
    return paths
