"""What every peer benchmark worker shares, apart from building its own calculator.

:func:`run_worker` parses the common command line (:func:`bench_systems.add_common_arguments`),
pins torch to one thread in the worker process (never on import), builds each benchmark system
asked for, times energy + forces through the calculator (:func:`bench_systems.time_energy_forces`:
wall and CPU seconds per call, median atom·steps/s), and prints one JSON line per system, with
the peak RSS and, on a GPU (``--device cuda``), the peak GPU memory in GiB
(:func:`bench_systems.emit`). A system that fails (e.g. out of GPU memory) prints a line with
``"error"``; ``--stop-at-oom`` then skips the rest (the GPU size search).

The workers run in separate venvs (/tmp/peers/{nequip,mace}) that do not have mlip, so this
module uses the standard library at import (torch inside functions) and is imported by path::

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import worker_common
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import Any, Callable, NamedTuple, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_systems  # noqa: E402


class WorkerModel(NamedTuple):
    """What a worker's builder returns: an ASE calculator and what the JSON line reports."""

    calculator: Any
    version: str
    n_params: int
    cutoff_A: float


def run_worker(
    model: str,
    description: str,
    build: Callable[[argparse.Namespace], WorkerModel],
    add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None,
    quiet: bool = False,
) -> None:
    """Parse the command line, build with ``build(args)``, time it, print one JSON line.

    Args:
        model: the name in the JSON line ("mlip", "nequip", "mace").
        description: the worker's ``--help`` text (first line of its docstring).
        build: makes the calculator for ``args.dtype`` / ``args.seed`` (and any extra flags).
        add_arguments: adds worker-specific flags to the parser.
        quiet: silence Python warnings and logging below ERROR (peers print a lot on build).
    """
    parser = argparse.ArgumentParser(description=description)
    bench_systems.add_common_arguments(parser)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    if quiet:
        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)

    built = build(args)
    for name in args.system:
        atoms = bench_systems.build_system(name)
        record = {
            "model": model,
            "version": built.version,
            "torch": torch.__version__,
            "system": name,
            "n_atoms": len(atoms),
            "dtype": args.dtype,
            "device": args.device,
            "cutoff_A": built.cutoff_A,
            "n_params": int(built.n_params),
            "threads": torch.get_num_threads(),
        }
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            record.update(bench_systems.time_energy_forces(atoms, built.calculator, args.repeats, args.warmups))
        except (RuntimeError, MemoryError) as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
            out_of_memory = "out of memory" in str(exc).lower() or isinstance(exc, MemoryError)
            record["error"] = "out of memory" if out_of_memory else f"{type(exc).__name__}: {str(exc)[:300]}"
            record["peak_gpu_gib"] = bench_systems.peak_gpu_gib(args.device)
            bench_systems.emit(record)
            if out_of_memory and args.stop_at_oom:
                break
            continue
        record["peak_gpu_gib"] = bench_systems.peak_gpu_gib(args.device)
        bench_systems.emit(record)
