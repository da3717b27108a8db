"""Fixed, seeded train/valid/test split of a labelled extxyz file, written for all three codes.

Every output frame carries the same labels under neutral keys that none of the codes treats
specially (no ASE calculator attached): ``info['REF_energy']`` (eV), ``arrays['REF_forces']``
(eV/Å), ``info['REF_stress']`` (Voigt 6, eV/Å³, ASE sign: positive = tensile). mlip, NequIP
(``key_mapping``) and MACE (``--energy_key`` ...) read these keys.

Also computes the training-set scales that mlip's loss divides by (see mlip/train/loss.py and
mlip/data/statistics.py), so the peers can be given the *same* weighted-MSE objective.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np

VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def voigt_to_3x3(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(6)
    m = np.zeros((3, 3))
    for k, (i, j) in enumerate(VOIGT):
        m[i, j] = m[j, i] = v[k]
    return m


def split_indices(n: int, seed: int, fractions=(0.8, 0.1, 0.1)) -> Dict[str, List[int]]:
    """Seeded permutation cut into train/valid/test (valid and test rounded, train the rest)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_valid = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    n_train = n - n_valid - n_test
    return {
        "train": sorted(int(i) for i in perm[:n_train]),
        "valid": sorted(int(i) for i in perm[n_train:n_train + n_valid]),
        "test": sorted(int(i) for i in perm[n_train + n_valid:]),
    }


def _relabel(atoms, keys: Dict[str, str]):
    import ase

    out = ase.Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info["REF_energy"] = float(atoms.info[keys["energy"]])
    out.arrays["REF_forces"] = np.asarray(atoms.arrays[keys["forces"]], dtype=np.float64)
    out.info["REF_stress"] = np.asarray(atoms.info[keys["stress"]], dtype=np.float64).reshape(6)
    out.info["config_type"] = str(atoms.info.get("config_type", "none"))
    return out


def loss_scales(frames) -> Dict[str, float]:
    """mlip's loss scales on these frames: per-atom energy residual RMS after a least-squares
    per-element reference fit (eV/atom), force component RMS (eV/Å), 3x3 stress component RMS
    (eV/Å³). Same formulas as mlip/data/statistics.py."""
    zs = sorted({int(z) for a in frames for z in a.numbers})
    counts = np.array([[np.sum(a.numbers == z) for z in zs] for a in frames], dtype=np.float64)
    energies = np.array([a.info["REF_energy"] for a in frames])
    mu = np.linalg.solve(counts.T @ counts + 1e-8 * np.eye(len(zs)), counts.T @ energies)
    resid = (energies - counts @ mu) / counts.sum(axis=1)
    f = np.concatenate([a.arrays["REF_forces"].reshape(-1) for a in frames])
    s = np.stack([voigt_to_3x3(a.info["REF_stress"]) for a in frames])
    return {
        "energy_per_atom_rms_eV": float(np.sqrt(np.mean(resid**2))),
        "force_rms_eV_per_A": float(np.sqrt(np.mean(f**2))),
        "stress_rms_eV_per_A3": float(np.sqrt(np.mean(s**2))),
    }


def write_split(dataset: str, out_dir: Path, seed: int, keys: Dict[str, str]) -> Dict:
    """Write train/valid/test.extxyz into ``out_dir``; return indices and training scales."""
    import ase.io

    frames = ase.io.read(dataset, ":")
    idx = split_indices(len(frames), seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, ids in idx.items():
        sub = [_relabel(frames[i], keys) for i in ids]
        path = out_dir / f"{name}.extxyz"
        tmp = path.with_suffix(".tmp.extxyz")
        ase.io.write(tmp, sub, format="extxyz")
        tmp.replace(path)
        written[name] = sub
    return {
        "dataset": str(dataset),
        "n_frames": len(frames),
        "seed": seed,
        "indices": idx,
        "n_atoms": {k: int(sum(len(a) for a in v)) for k, v in written.items()},
        "train_scales": loss_scales(written["train"]),
    }


if __name__ == "__main__":
    import sys

    info = write_split(sys.argv[1], Path(sys.argv[2]), 0, {"energy": "emt_energy", "forces": "emt_forces", "stress": "emt_stress"})
    print(json.dumps({k: v for k, v in info.items() if k != "indices"}, indent=1))
