"""Seeded train/validation/test splits."""
from __future__ import annotations

from typing import List, Sequence, Tuple, TypeVar

import numpy as np

from mlip.errors import ConfigError

T = TypeVar("T")


def split_frames(frames: Sequence[T], n_valid, n_test, seed: int) -> Tuple[List[T], List[T], List[T]]:
    """Shuffle with ``numpy.random.default_rng(seed)`` and split into (train, valid, test).

    ``n_valid`` / ``n_test`` are counts (int) or fractions (float in [0, 1)).
    """
    n = len(frames)

    def count(x, name):
        if isinstance(x, float) and 0.0 <= x < 1.0:
            return int(round(x * n))
        if isinstance(x, int) and x >= 0:
            return x
        raise ConfigError(f"{name}: give a count >= 0 or a fraction in [0, 1), got {x!r}")

    nv, nt = count(n_valid, "n_valid"), count(n_test, "n_test")
    if nv + nt >= n:
        raise ConfigError(f"split leaves no training frames: {n} frames, {nv} validation, {nt} test")
    order = np.random.default_rng(seed).permutation(n)
    pick = lambda idx: [frames[int(i)] for i in idx]
    return pick(order[nv + nt :]), pick(order[:nv]), pick(order[nv : nv + nt])
