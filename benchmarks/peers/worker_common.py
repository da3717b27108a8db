"""What every peer benchmark worker shares, apart from building its own calculator.

:func:`run_worker` parses the common command line (:func:`bench_systems.add_common_arguments`),
pins torch to one thread in the worker process (never on import), builds the benchmark system,
times energy + forces through the calculator (:func:`bench_systems.time_energy_forces`: wall
and CPU seconds per call, median atom·steps/s), and prints the one JSON line the driver reads,
with the peak RSS in GiB (:func:`bench_systems.emit`).

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
    atoms = bench_systems.build_system(args.system)
    result = bench_systems.time_energy_forces(atoms, built.calculator, args.repeats, args.warmups)
    bench_systems.emit(
        {
            "model": model,
            "version": built.version,
            "torch": torch.__version__,
            "system": args.system,
            "n_atoms": len(atoms),
            "dtype": args.dtype,
            "cutoff_A": built.cutoff_A,
            "n_params": int(built.n_params),
            "threads": torch.get_num_threads(),
            **result,
        }
    )
