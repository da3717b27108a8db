"""Benchmark worker: a randomly initialised NequIP (nequip 0.19.x) through its ASE calculator.

Run with the NequIP venv's python (see setup_peer_venvs.sh), one core, e.g.::

    taskset -c 0 /tmp/peers/nequip/bin/python benchmarks/peers/worker_nequip.py --system cu500

Prints one JSON line. The model has the shape of the NequIP reference figures in
docs/benchmarks.md ("Peer speeds on a quiet core"): l_max 2, 32 features per irrep, 4 layers,
r_max 5 Å, parity on, radial MLP 1 x 128, 8 Bessels (0.85M parameters here; the reference run
reported ~0.77M), built without training by calling the ``NequIPGNNModel`` builder
directly (the ``@model_builder`` decorator seeds and sets the dtype; it only needs the
global state initialised first).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_common  # noqa: E402

TYPE_NAMES = ["H", "O", "Cu"]
R_MAX_A = 5.0
# roughly the mean neighbour count of the benchmark systems at 5 Å; only normalises sums
AVG_NUM_NEIGHBORS = 45.0


def build_nequip(dtype: str, seed: int):
    """A randomly initialised NequIP model in eval mode, and the calculator transforms."""
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    set_global_state()  # required before any @model_builder call
    model = NequIPGNNModel(
        seed=seed,
        model_dtype=dtype,
        type_names=TYPE_NAMES,
        r_max=R_MAX_A,
        num_layers=4,
        l_max=2,
        parity=True,
        num_features=32,
        radial_mlp_depth=1,
        radial_mlp_width=128,
        num_bessels=8,
        avg_num_neighbors=AVG_NUM_NEIGHBORS,
    )
    model.eval()
    transforms = [
        ChemicalSpeciesToAtomTypeMapper(model_type_names=TYPE_NAMES),
        NeighborListTransform(r_max=R_MAX_A),  # matscipy backend, as in NequIP's default
    ]
    return model, transforms


def build(args) -> worker_common.WorkerModel:
    """NequIP's ASE calculator around the random model, with its type mapper and neighbour list."""
    import nequip
    from nequip.integrations.ase import NequIPCalculator

    model, transforms = build_nequip(args.dtype, args.seed)
    calc = NequIPCalculator(model=model, device=args.device, transforms=transforms)
    return worker_common.WorkerModel(calc, nequip.__version__, sum(p.numel() for p in model.parameters()), R_MAX_A)


def main() -> None:
    worker_common.run_worker("nequip", __doc__.splitlines()[0], build, quiet=True)


if __name__ == "__main__":
    main()
