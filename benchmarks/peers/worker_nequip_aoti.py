"""Benchmark worker: NequIP 0.19 compiled by ``nequip-compile --mode aotinductor --device cpu``.

Run with the NequIP venv's python, one core, after ``compile_nequip_aoti.sh`` made the
compiled model (``$PEERS_DIR/aoti/nequip_<dtype>.nequip.pt2``), e.g.::

    taskset -c 0 /tmp/peers/nequip/bin/python benchmarks/peers/worker_nequip_aoti.py --system cu108,cu2048

Prints one JSON line per system. The compiled model is the NequIP benchmark shape of
worker_nequip.py (l_max 2, 32 features, 4 layers, r_max 5 Å, parity, radial MLP 1 x 128,
8 Bessels; 0.85M parameters), exported for the ASE target (``--target ase``: per-atom and
total energy, forces and stress from positions, edges, types, cell and shifts) and loaded
with ``NequIPCalculator.from_compiled_model`` (matscipy neighbour list, nequip's default).
Its weights are the seed-0 initial ones (the checkpoint comes from one optimiser step at
learning rate 0), so the energy should equal worker_nequip.py's at ``--seed 0``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_common  # noqa: E402

R_MAX_A = 5.0
N_PARAMS = 849_024  # as counted by worker_nequip.py for the same shape; the .pt2 does not expose it


def default_compiled_path(dtype: str) -> str:
    """Where compile_nequip_aoti.sh writes the compiled model for ``dtype``."""
    peers_dir = os.environ.get("PEERS_DIR", "/tmp/peers")
    return os.path.join(peers_dir, "aoti", f"nequip_{dtype}.nequip.pt2")


def add_arguments(parser) -> None:
    parser.add_argument("--compiled-model", default=None,
                        help="a .nequip.pt2 file (default: $PEERS_DIR/aoti/nequip_<dtype>.nequip.pt2)")


def build(args) -> worker_common.WorkerModel:
    """NequIP's ASE calculator around the AOTInductor-compiled model."""
    import nequip
    from nequip.integrations.ase import NequIPCalculator
    from nequip.utils.global_state import set_global_state

    if args.device != "cpu":
        raise SystemExit("worker_nequip_aoti: the model is compiled for --device cpu only")
    path = args.compiled_model or default_compiled_path(args.dtype)
    if not os.path.exists(path):
        raise SystemExit(f"worker_nequip_aoti: {path} not found; run bash benchmarks/peers/compile_nequip_aoti.sh")
    set_global_state()  # float64 positions, as at compile time
    calc = NequIPCalculator.from_compiled_model(path, device="cpu", chemical_species_to_atom_type_map=True)
    return worker_common.WorkerModel(calc, nequip.__version__ + "+aotinductor", N_PARAMS, R_MAX_A)


def main() -> None:
    worker_common.run_worker("nequip-aoti", __doc__.splitlines()[0], build, add_arguments, quiet=True)


if __name__ == "__main__":
    main()
