"""A toy active-learning setup for the loop's tests: EMT copper (and gold) as the oracle, a
tiny committee, seconds per round."""
from __future__ import annotations

import os
from typing import Any, Dict

import ase.build
import ase.io
import yaml

TRAIN = {
    "model": {"elements": ["Cu", "Au"], "cutoff": 4.0, "l_max": 1, "channels": 4, "n_layers": 1,
              "n_radial_basis": 4, "radial_hidden": 8, "radial_layers": 1},
    "training": {"epochs": 2, "batch_size": 2, "lr": 0.01, "dtype": "float64", "early_stopping_patience": None},
    "output": "unused",
}


def write_setup(folder, **overrides: Any) -> str:
    """Start structures, a train template and a learn config in ``folder``; returns the
    config's path. ``overrides`` replace whole sections of the learn config."""
    folder = str(folder)
    starts = [ase.build.bulk("Cu", "fcc", a=3.6, cubic=True), ase.build.bulk("Cu", "fcc", a=3.65, cubic=True)]
    ase.io.write(os.path.join(folder, "starts.extxyz"), starts)
    with open(os.path.join(folder, "train.yaml"), "w") as fh:
        yaml.safe_dump(TRAIN, fh)
    config: Dict[str, Any] = {
        "output": os.path.join(folder, "out"),
        "seed": 0,
        "oracle": {"calculator": "ase.calculators.emt:EMT"},
        "start": {"structures": ["starts.extxyz"], "rattle_per_structure": 1, "rattle_A": 0.05},
        "train": {"config": "train.yaml", "committee_size": 2, "finetune_epochs": 1},
        "explore": {"timestep_fs": 4.0, "sample_every_steps": 4, "stop_sigma_eV_per_A": 10.0,
                    "conditions": [{"structure": 0, "temperature_K": 900, "steps": 12},
                                   {"structure": 1, "temperature_K": 1500, "steps": 12,
                                    "substitute": {"from": "Cu", "to": "Au", "fraction": 0.25}}]},
        "select": {"threshold_eV_per_A": 0.02, "max_per_round": 2},
        "stop": {"max_labels": 50, "max_rounds": 2, "quiet_time_fs": 1.0e6},
    }
    config.update(overrides)
    path = os.path.join(folder, "learn.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh)
    return path
