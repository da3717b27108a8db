"""A tiny EMT Cu/Au dataset and tiny training configs (fast on 2 cores)."""
import ase.build
import ase.io
import numpy as np
from ase.calculators.emt import EMT


def make_emt_frames(n=16, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = ase.build.bulk("Cu", "fcc", a=3.61 + rng.uniform(-0.05, 0.05), cubic=True)
        if k % 3 == 0:
            a[1].symbol = "Au"
        a.rattle(0.1, seed=seed * 1000 + k)
        a.calc = EMT()
        a.info["energy"] = a.get_potential_energy()
        a.info["stress"] = a.get_stress()
        a.arrays["forces"] = a.get_forces()
        a.calc = None
        frames.append(a)
    return frames


def tiny_config(data_file, output, **training):
    t = {"epochs": 3, "batch_size": 4, "lr": 0.01, "dtype": "float64", "progress": False}
    t.update(training)
    return {
        "data": {"train": data_file, "n_valid": 3, "n_test": 3},
        "model": {"cutoff": 3.5, "l_max": 1, "channels": 4, "n_layers": 2, "radial_hidden": 8, "readout_hidden": 4},
        "training": t,
        "output": str(output),
    }
