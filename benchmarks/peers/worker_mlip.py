"""Benchmark worker: a randomly initialised mlip model through ``mlip.MLIPCalculator``.

Run with the repository's venv python, one core, e.g.::

    taskset -c 0 .venv/bin/python benchmarks/peers/worker_mlip.py --system cu500

Prints one JSON line. The model has the NequIP benchmark shape: l_max 2, 32 channels,
4 layers, cutoff 5 Å, elements H, O, Cu; other hyper-parameters are ModelConfig's defaults
unless ``--config-json '{"radial_hidden": 128, ...}'`` overrides them. The mlip imported is
the one in this working tree (the repository root is put first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root
import bench_systems  # noqa: E402

CUTOFF_A = 5.0
BENCHMARK_CONFIG = dict(elements=["H", "O", "Cu"], cutoff=CUTOFF_A, l_max=2, channels=32, n_layers=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_systems.add_common_arguments(parser)
    parser.add_argument(
        "--config-json", default="{}", help="ModelConfig fields overriding the benchmark shape (JSON object)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    import mlip

    config = mlip.ModelConfig(**{**BENCHMARK_CONFIG, **json.loads(args.config_json)})
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    pot = mlip.build_potential(config, dtype=dtype, seed=args.seed)
    calc = mlip.MLIPCalculator(pot)
    atoms = bench_systems.build_system(args.system)
    result = bench_systems.time_energy_forces(atoms, calc, args.repeats, args.warmups)
    bench_systems.emit(
        {
            "model": "mlip",
            "version": getattr(mlip, "__version__", "unknown"),
            "torch": torch.__version__,
            "system": args.system,
            "n_atoms": len(atoms),
            "dtype": args.dtype,
            "cutoff_A": config.cutoff,
            "n_params": sum(p.numel() for p in pot.parameters()),
            "threads": torch.get_num_threads(),
            **result,
        }
    )


if __name__ == "__main__":
    main()
