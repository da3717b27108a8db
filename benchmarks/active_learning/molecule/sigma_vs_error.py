"""Does the committee σ of the glycine loop track its true error on the fixed GFN2-xTB test set?

For every seed's committee of every round (``<output>/round_R/committee.pt``, calibrated on the
validation set by the loop) and the fixed test set (``data/test.extxyz``), per frame: the
largest per-atom σ (eV/Å; σ_i = s·sqrt(Σ_xyz var_members F_i), the number ``mlip md`` and the
loop use) and the largest per-atom force error |F_pred,i − F_ref,i| (eV/Å). Reported per round:
the Spearman rank correlation of the two over frames, the fraction of atoms with
|ΔF_i| < 2σ_i, the mean σ_i and the mean |ΔF_i| (eV/Å). Writes ``results/sigma_vs_error.csv``.

Usage (repository root, after run_seeds.py)::

    OMP_NUM_THREADS=1 python benchmarks/active_learning/molecule/sigma_vs_error.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import csv
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def frame_errors(committee_path: str, frames):
    """Per frame: (max σ_i, max |ΔF_i|) in eV/Å; and all atoms' (σ_i, |ΔF_i|)."""
    from mlip.calculator import MLIPCalculator

    calc = MLIPCalculator(committee_path)
    per_frame, per_atom = [], []
    for ref in frames:
        atoms = ref.copy()
        atoms.calc = calc
        forces = atoms.get_forces()
        sigma = np.asarray(calc.results["forces_std"])
        error = np.linalg.norm(forces - ref.arrays["REF_forces"], axis=1)
        per_frame.append((sigma.max(), error.max()))
        per_atom.append(np.stack([sigma, error], axis=1))
    return np.array(per_frame), np.concatenate(per_atom)


def main(argv=None) -> None:
    import ase.io
    from scipy.stats import spearmanr

    from mlip.atomic_io import atomic_open
    from mlip.learn.config import LearnConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args(argv)
    cfg = LearnConfig.from_yaml(os.path.join(HERE, "learn.yaml"))
    frames = ase.io.read(os.path.join(HERE, "data", "test.extxyz"), index=":")
    rows = []
    for seed in args.seeds:
        out = cfg.output if seed == 0 else f"{cfg.output}_s{seed}"
        r = 0
        while os.path.exists(os.path.join(out, f"round_{r}", "committee.pt")):
            per_frame, per_atom = frame_errors(os.path.join(out, f"round_{r}", "committee.pt"), frames)
            rho = spearmanr(per_frame[:, 0], per_frame[:, 1]).statistic
            rows.append({"seed": seed, "round": r, "spearman_frame_max": f"{rho:.3f}",
                         "frac_atoms_err_lt_2sigma": f"{np.mean(per_atom[:, 1] < 2 * per_atom[:, 0]):.3f}",
                         "mean_sigma_eV_per_A": f"{per_atom[:, 0].mean():.4f}",
                         "mean_err_eV_per_A": f"{per_atom[:, 1].mean():.4f}"})
            print(rows[-1], flush=True)
            r += 1
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with atomic_open(os.path.join(HERE, "results", "sigma_vs_error.csv"), "w", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
