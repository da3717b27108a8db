"""Keep freed memory in the process instead of returning it to the OS after every step.

A force call allocates the same large tensors (edge features, messages, their gradients) every
MD step. glibc's malloc serves blocks above its mmap threshold with fresh ``mmap`` calls and
``munmap``s them on free, and trims the heap top when it frees a lot, so each step faults every
page of those tensors in again: on 4,000 Cu atoms that was 3.7 million page faults per 10 steps
and 40 % of the run in the kernel (benchmarks/bench_allocator.py). :func:`keep_freed_memory`
raises the mmap threshold and switches heap trimming off (``mallopt``), so freed blocks stay in
the heap and are reused by the next step (or the next block of a large system, see
:mod:`mlip.chunked_evaluation`), at the price of a higher resident size (the peak of one step
stays mapped; measured +35 % RSS). Trimming is off rather than raised because a block of a
large system frees several GiB at once, more than any trim threshold ``mallopt`` accepts
(< 2 GiB): with a 1 GiB threshold, 32,000 Cu atoms in 2^20-edge blocks spent 13.5 % of CPU
time in the kernel, with trimming off 4.3 % (and 4,984 instead of 4,517 atom·steps per CPU-s).

This is process-wide allocator state, so mlip never does it on import or inside a library
call: the processes mlip owns do it at start-up (the ``mlip`` command line, ``make demo``, the
LAMMPS plugin ``pair_style mlip``); a script or notebook that drives the ASE calculator calls
:func:`keep_freed_memory` once itself. Elsewhere than glibc (macOS, musl) it does nothing and
returns False.

Example:
    >>> from mlip.allocator import keep_freed_memory
    >>> keep_freed_memory() in (True, False)
    True
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: default size below which blocks come from the heap and above which free memory is kept: 1 GiB
DEFAULT_THRESHOLD_BYTES = 1 << 30


def keep_freed_memory(threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> bool:
    """Make glibc malloc serve blocks below ``threshold_bytes`` (bytes) from the heap and never
    give freed heap memory back to the OS (no trimming). Process-wide; call it once at start-up
    of a process you own. Returns True when the settings were applied."""
    if not sys.platform.startswith("linux"):
        return False
    if not 0 < int(threshold_bytes) < 2**31:
        raise ValueError(f"threshold_bytes must be in (0, 2^31) bytes, got {threshold_bytes}")
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, int(threshold_bytes)) == 1
    ok_trim = mallopt(_M_TRIM_THRESHOLD, -1) == 1  # -1: never trim
    return ok_mmap and ok_trim
