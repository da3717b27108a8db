"""Compile a plain-Python analysis loop with numba on first use, once per process.

numba is imported only when a kernel first runs (``mlip`` starts no slower), and nothing is
cached on disk (``cache=False``), so a read-only install works. The plain-Python function stays
available as the readable reference the tests compare the kernel with.
"""
from __future__ import annotations

import functools
from typing import Callable


def lazy_njit(py_func: Callable) -> Callable[[], Callable]:
    """A function returning ``numba.njit(py_func)``, compiled on its first call."""

    @functools.lru_cache(maxsize=None)
    def kernel() -> Callable:
        from numba import njit

        return njit(cache=False, nogil=True, fastmath=False)(py_func)

    kernel.__doc__ = f"The numba-compiled ``{py_func.__name__}`` (compiled on the first call of this function)."
    return kernel
