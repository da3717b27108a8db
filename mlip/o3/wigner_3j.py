"""Real Wigner 3j coupling tensors in the basis of :mod:`mlip.o3.spherical_harmonics`.

Construction (computed, never tabulated)
----------------------------------------
1. The complex Wigner 3j symbols (l1 l2 l3; m1 m2 m3) (Condon-Shortley convention) from the
   Racah formula, in exact rational arithmetic (the square of a 3j symbol is rational).
2. The unitary U^l taking the complex (Condon-Shortley) harmonics to our real ones,
   Y_real = U^l Y_complex:

       row m > 0:  (Y^-m + (-1)^m Y^m) / sqrt 2
       row m = 0:  Y^0
       row m < 0:  i (Y^m - (-1)^m Y^-m) / sqrt 2

3. C = (-i)^(l1+l2+l3) * (U^l1 x U^l2 x U^l3) . 3j, which is real (imaginary part ~1e-17 is
   checked and dropped).

Properties
----------
* Invariance: sum D^l1_aa' D^l2_bb' D^l3_cc' C_a'b'c' = C_abc for D = :func:`mlip.o3.wigner_D`
  (also for improper rotations when l1 + l2 + l3 is even).
* Frobenius norm 1, and sum_{m1,m2} C[m1,m2,m3] C[m1,m2,m3'] = delta_m3m3' / (2 l3 + 1).
* Sign convention: for l1 + l2 + l3 even, sum_{m1,m2} C[m1,m2,:] Y_l1m1(v) Y_l2m2(v) = +k Y_l3(v)
  with k > 0 (the coupled product of two harmonics is a positive multiple of the third);
  for (1, 1, 1), C = epsilon / sqrt 6 (Levi-Civita in our component order), i.e. coupling two
  l = 1 features gives +(a x b) / sqrt 6 up to the (y, z, x) ordering.
"""
import functools
import math
from fractions import Fraction
from typing import List, Optional, Tuple

import torch
from torch import Tensor

__all__ = ["wigner_3j"]


def _three_j_symbol(j1: int, j2: int, j3: int, m1: int, m2: int, m3: int) -> float:
    """Complex-basis Wigner 3j symbol by the Racah formula (exact rationals, then sqrt)."""
    if m1 + m2 + m3 != 0 or abs(m1) > j1 or abs(m2) > j2 or abs(m3) > j3:
        return 0.0
    fact = math.factorial
    series = Fraction(0)
    for k in range(j1 + j2 + j3 + 1):
        args = (k, j3 - j2 + k + m1, j3 - j1 + k - m2, j1 + j2 - j3 - k, j1 - k - m1, j2 - k + m2)
        if min(args) < 0:
            continue
        denominator = 1
        for a in args:
            denominator *= fact(a)
        series += Fraction((-1) ** k, denominator)
    if series == 0:
        return 0.0
    triangle = Fraction(
        fact(j1 + j2 - j3) * fact(j1 - j2 + j3) * fact(-j1 + j2 + j3), fact(j1 + j2 + j3 + 1)
    )
    prefactor_sq = triangle * (
        fact(j1 + m1) * fact(j1 - m1) * fact(j2 + m2) * fact(j2 - m2)
        * fact(j3 + m3) * fact(j3 - m3)
    )
    sign = (-1) ** (j1 - j2 - m3) * (1 if series > 0 else -1)
    return sign * math.sqrt(float(prefactor_sq * series * series))


def _complex_to_real_rows(l: int) -> List[List[Tuple[int, complex]]]:
    """Sparse rows of the unitary U with Y_real = U @ Y_complex (index m + l): for each real
    component, its (complex index, coefficient) pairs."""
    r = 1.0 / math.sqrt(2.0)
    rows: List[List[Tuple[int, complex]]] = []
    for m in range(-l, l + 1):
        if m > 0:
            rows.append([(-m + l, complex(r)), (m + l, complex((-1) ** m * r))])
        elif m == 0:
            rows.append([(l, complex(1.0))])
        else:
            rows.append([(m + l, 1j * r), (-m + l, -1j * (-1) ** m * r)])
    return rows


@functools.lru_cache(maxsize=None)
def _wigner_3j_float64(l1: int, l2: int, l3: int) -> Tensor:
    # Plain Python on purpose: the tensors are tiny, and tiny torch ops can cost milliseconds
    # each on a loaded multi-threaded CPU.
    symbols = {}
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            m3 = -m1 - m2
            if abs(m3) <= l3:
                value = _three_j_symbol(l1, l2, l3, m1, m2, m3)
                if value != 0.0:
                    symbols[(m1 + l1, m2 + l2, m3 + l3)] = value
    rows1 = _complex_to_real_rows(l1)
    rows2 = _complex_to_real_rows(l2)
    rows3 = _complex_to_real_rows(l3)
    phase = (-1j) ** (l1 + l2 + l3)
    real: List[List[List[float]]] = []
    leftover = 0.0
    for row1 in rows1:
        plane: List[List[float]] = []
        for row2 in rows2:
            line: List[float] = []
            for row3 in rows3:
                total = 0j
                for i, u1 in row1:
                    for j, u2 in row2:
                        for k, u3 in row3:
                            total += u1 * u2 * u3 * symbols.get((i, j, k), 0.0)
                total *= phase
                leftover = max(leftover, abs(total.imag))
                line.append(total.real)
            plane.append(line)
        real.append(plane)
    if leftover > 1e-12:  # an internal consistency check, not input validation
        raise RuntimeError(f"wigner_3j({l1}, {l2}, {l3}): complex residue {leftover:.3g}")
    tensor = torch.tensor(real, dtype=torch.float64)
    return tensor / tensor.norm()  # already 1 up to rounding


def wigner_3j(
    l1: int,
    l2: int,
    l3: int,
    dtype: torch.dtype = torch.float64,
    device: Optional[torch.device] = None,
) -> Tensor:
    """Real coupling tensor C (2l1+1, 2l2+1, 2l3+1) invariant under D^l1 x D^l2 x D^l3.

    Computed once per (l1, l2, l3) in float64 and cached; each call returns a fresh copy cast
    to ``dtype`` / ``device``. Conventions and sign choice: see the module docstring.

    Args:
        l1, l2, l3: degrees (ints >= 0) satisfying |l1 - l2| <= l3 <= l1 + l2.
        dtype, device: of the returned tensor.

    Raises:
        ValueError: negative or non-integer degrees, or a triangle-violating triple.

    Example:
        >>> import torch
        >>> c = wigner_3j(1, 1, 2)
        >>> c.shape
        torch.Size([3, 3, 5])
        >>> round(float(c.norm()), 12)
        1.0
        >>> float(wigner_3j(0, 0, 0))  # doctest: +ELLIPSIS
        1.0
    """
    for name, value in (("l1", l1), ("l2", l2), ("l3", l3)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"wigner_3j: {name} must be an int >= 0, got {value!r}")
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(
            f"wigner_3j: ({l1}, {l2}, {l3}) violates the triangle rule |l1 - l2| <= l3 <= l1 + l2"
        )
    return _wigner_3j_float64(l1, l2, l3).to(dtype=dtype, device=device, copy=True)
