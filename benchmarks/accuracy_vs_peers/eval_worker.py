"""Predict energy, forces and stress of every frame of a test file with one trained model,
through that code's own ASE calculator, in that code's default (float32) precision.

Run with the python of the code's venv (each code in its own process)::

    .venv/bin/python            eval_worker.py --code mlip   --model best.pt    --test test.extxyz --out mlip.npz
    /tmp/peers/nequip/bin/python eval_worker.py --code nequip --model best.ckpt  --test ... --out nequip.npz
    /tmp/peers/mace/bin/python   eval_worker.py --code mace   --model mace.model --test ... --out mace.npz

Writes an .npz with ``energy_eV`` (n_frames,), ``forces_eV_per_A`` (n_atoms_total, 3),
``stress_eV_per_A3`` (n_frames, 6; Voigt xx yy zz yz xz xy, ASE sign), ``n_atoms`` (n_frames,)
and a JSON string ``meta`` (version, parameter count, seconds). Only numpy, ase and the code
itself are imported; the errors are computed elsewhere (metrics.py) by one shared function.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _mlip(model_path: str):
    import mlip
    from mlip.potential import load_potential

    pot = load_potential(model_path)
    return mlip.MLIPCalculator(pot), sum(p.numel() for p in pot.parameters()), "mlip", getattr(mlip, "__version__", "dev")


def _nequip(model_path: str):
    import nequip
    from nequip.integrations.ase import NequIPCalculator

    # a Lightning checkpoint: the EMA weights are loaded when present (nequip's documented behaviour)
    calc = NequIPCalculator._from_saved_model(model_path, device="cpu")
    return calc, sum(p.numel() for p in calc.model.parameters()), "nequip", nequip.__version__


def _mace(model_path: str):
    import mace
    from mace.calculators import MACECalculator

    calc = MACECalculator(model_paths=model_path, device="cpu", default_dtype="float32")
    model = calc.models[0]
    return calc, sum(p.numel() for p in model.parameters()), "mace-torch", getattr(mace, "__version__", "0.3.x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", choices=["mlip", "nequip", "mace"], required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch
    import ase.io

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    calc, n_params, name, version = {"mlip": _mlip, "nequip": _nequip, "mace": _mace}[args.code](args.model)
    t_load = time.perf_counter() - t0
    frames = ase.io.read(args.test, ":")
    energies, forces, stresses, n_atoms = [], [], [], []
    t0 = time.perf_counter()
    for atoms in frames:
        atoms = atoms.copy()  # labels stay in info/arrays under REF_*; no calculator attached
        atoms.calc = calc
        energies.append(float(atoms.get_potential_energy()))
        forces.append(np.asarray(atoms.get_forces(), dtype=np.float64))
        stresses.append(np.asarray(atoms.get_stress(voigt=True), dtype=np.float64))
        n_atoms.append(len(atoms))
    t_pred = time.perf_counter() - t0
    meta = {"code": name, "version": version, "torch": torch.__version__, "n_params": int(n_params),
            "model": os.path.abspath(args.model), "load_s": round(t_load, 2), "predict_s": round(t_pred, 2),
            "n_frames": len(frames)}
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, energy_eV=np.array(energies), forces_eV_per_A=np.concatenate(forces),
             stress_eV_per_A3=np.stack(stresses), n_atoms=np.array(n_atoms), meta=json.dumps(meta))
    os.replace(tmp, args.out)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
