"""Benchmark worker: a randomly initialised mlip model through ``mlip.MLIPCalculator``.

Run with the repository's venv python, one core, e.g.::

    taskset -c 0 .venv/bin/python benchmarks/peers/worker_mlip.py --system cu500

Prints one JSON line. The model has the NequIP benchmark shape: l_max 2, 32 channels,
4 layers, cutoff 5 Å, elements H, O, Cu; other hyper-parameters are ModelConfig's defaults
unless ``--config-json '{"radial_hidden": 128, ...}'`` overrides them. The mlip imported is
the one in this working tree (the repository root is put first on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root
import worker_common  # noqa: E402

CUTOFF_A = 5.0
BENCHMARK_CONFIG = dict(elements=["H", "O", "Cu"], cutoff=CUTOFF_A, l_max=2, channels=32, n_layers=4)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--config-json", default="{}", help="ModelConfig fields overriding the benchmark shape (JSON object)"
    )


def build(args) -> worker_common.WorkerModel:
    """mlip's ASE calculator around a random potential of the benchmark shape."""
    import torch

    import mlip

    config = mlip.ModelConfig(**{**BENCHMARK_CONFIG, **json.loads(args.config_json)})
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    pot = mlip.build_potential(config, dtype=dtype, seed=args.seed, device=args.device)
    version = getattr(mlip, "__version__", "unknown")
    calculator = mlip.MLIPCalculator(pot, device=args.device)
    return worker_common.WorkerModel(calculator, version, sum(p.numel() for p in pot.parameters()), config.cutoff)


def main() -> None:
    worker_common.run_worker("mlip", __doc__.splitlines()[0], build, add_arguments)


if __name__ == "__main__":
    main()
