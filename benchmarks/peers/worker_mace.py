"""Benchmark worker: a randomly initialised MACE (mace-torch 0.3.x) through its ASE calculator.

Run with the MACE venv's python (see setup_peer_venvs.sh), one core, e.g.::

    taskset -c 0 /tmp/peers/mace/bin/python benchmarks/peers/worker_mace.py --system cu500

Prints one JSON line. The model has the shape of MACE-MP-0 "small" (89 elements, 128x0e
hidden, max_ell 3, correlation 3, 2 residual interactions, radial MLP [64, 64, 64],
8 Bessels, r_max 6 Å; ~3.85M parameters), built directly from ``ScaleShiftMACE`` with
random weights: no checkpoint can be downloaded here.

Importing mace sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 process-wide, which is one reason
each peer runs in a process of its own.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_common  # noqa: E402

R_MAX_A = 6.0
N_ELEMENTS = 89  # Z = 1..89, as MACE-MP-0
AVG_NUM_NEIGHBORS = 60.0  # only normalises the message sums


def build_mace_mp_small_shape(dtype: str, seed: int):
    """A ScaleShiftMACE with MACE-MP-0-small hyperparameters and random weights, eval mode."""
    import numpy as np
    import torch
    from e3nn import o3
    from mace import modules

    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    previous_default = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)  # MACE builds its buffers in the default dtype
    try:
        torch.manual_seed(seed)
        model = modules.ScaleShiftMACE(
            r_max=R_MAX_A,
            num_bessel=8,
            num_polynomial_cutoff=5,
            max_ell=3,
            interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            num_interactions=2,
            num_elements=N_ELEMENTS,
            hidden_irreps=o3.Irreps("128x0e"),
            MLP_irreps=o3.Irreps("16x0e"),
            atomic_energies=np.zeros(N_ELEMENTS),
            avg_num_neighbors=AVG_NUM_NEIGHBORS,
            atomic_numbers=list(range(1, N_ELEMENTS + 1)),
            correlation=3,
            gate=modules.gate_dict["silu"],
            radial_MLP=[64, 64, 64],
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
    finally:
        torch.set_default_dtype(previous_default)
    return model.to(torch_dtype).eval()


def build(args) -> worker_common.WorkerModel:
    """MACE's ASE calculator around the random MACE-MP-0-small-shaped model."""
    import mace
    from mace.calculators import MACECalculator

    model = build_mace_mp_small_shape(args.dtype, args.seed)
    calc = MACECalculator(models=model, device=args.device, default_dtype=args.dtype)
    return worker_common.WorkerModel(calc, mace.__version__, sum(p.numel() for p in model.parameters()), R_MAX_A)


def main() -> None:
    worker_common.run_worker("mace", __doc__.splitlines()[0], build, quiet=True)


if __name__ == "__main__":
    main()
