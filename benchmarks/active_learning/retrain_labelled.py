"""Diagnostic: train one committee from scratch on a loop run's labelled frames (optionally
dropping frames whose largest reference force exceeds --max-force-eV-per-A) and report its force
MAE on the OOD test set, to tell the data a strategy picked apart from its fine-tuning path.

    python benchmarks/active_learning/retrain_labelled.py runs/al_small/uncertainty_s0 --epochs 130 [--max-force-eV-per-A 10] [--max-round 5]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import ase.io
import numpy as np
import yaml

from mlip.atomic_io import atomic_path
from mlip.learn.config import LABEL_KEYS
from mlip.learn.report import errors
from mlip.potential import load_potential
from mlip.train import TrainConfig, train

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--epochs", type=int, default=130)
    p.add_argument("--max-force-eV-per-A", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-round", type=int, default=5, help="use the frames labelled up to this round (default 5: "
                                                            "the 80 frames round 6's committee was trained on)")
    args = p.parse_args()
    frames = [a for a in ase.io.read(os.path.join(args.run, "labelled.extxyz"), ":") if a.info["round"] <= args.max_round]
    kept = [a for a in frames if args.max_force_eV_per_A is None
            or np.abs(a.arrays[LABEL_KEYS["forces"]]).max() <= args.max_force_eV_per_A]
    tag = f"scratch_e{args.epochs}" + (f"_fmax{args.max_force_eV_per_A:g}" if args.max_force_eV_per_A else "")
    out = os.path.join(args.run, tag)
    os.makedirs(out, exist_ok=True)
    data = os.path.join(out, "train.extxyz")
    with atomic_path(data, suffix=".extxyz") as tmp:
        ase.io.write(tmp, kept, format="extxyz")
    template = yaml.safe_load(open(os.path.join(HERE, "configs", "train_small.yaml")))
    training = dict(template["training"], epochs=args.epochs, committee_size=3, seed=args.seed, progress=False)
    cfg = TrainConfig.from_dict({"data": {"train": data, "valid": os.path.join(args.run, "validation.extxyz"), "n_valid": 0,
                                          "n_test": 0, "keys": dict(LABEL_KEYS)},
                                 "model": template["model"], "training": training, "output": out})
    start = time.process_time()
    best = train(cfg, resume=True)
    pot = load_potential(best)
    result = {"run": args.run, "frames": len(kept), "dropped": len(frames) - len(kept), "epochs": args.epochs,
              "cpu_s": time.process_time() - start, **errors(pot, os.path.join(args.run, "test.extxyz"), "test")}
    print(json.dumps(result))
    with open(os.path.join(out, "result.json"), "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
