"""Baseline energies, forces and stresses of labelled frames (for training on the residual).

The torch baselines of a potential (``model.terms[1:]``) are evaluated in float64; the
external ASE baseline is evaluated with its calculator, or read from the frames' precomputed
``baseline_*`` labels when the data provides them (e.g. GFN2-xTB labels stored with the DFT set).
"""
from __future__ import annotations

import copy
import hashlib
from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from mlip.data.batch import build_graphs, collate
from mlip.data.frames import Frame
from mlip.errors import ConfigError
from mlip.models.force_model import ForceModel


def baseline_description(potential, external_from_file: bool) -> Dict[str, Any]:
    """JSON-able identity of a potential's baselines (specs + a hash of torch baseline weights)."""
    h = hashlib.sha256()
    for name, value in ForceModel(list(potential.model.terms)[1:]).state_dict().items():
        h.update(name.encode())
        h.update(value.detach().cpu().double().numpy().tobytes())
    return {
        "baselines": potential.baseline_specs,
        "external": None if potential.external is None else potential.external.spec,
        "external_from_file": bool(external_from_file),
        "weights_sha256": h.hexdigest(),
        "cutoff_A": potential.cutoff,
    }


def compute_baseline_labels(potential, frames: Sequence[Frame], external_from_file: bool, batch_size: int = 16) -> List[Dict[str, Any]]:
    """Per-frame ``{"energy": eV, "forces": (n, 3) eV/Å, "stress": (3, 3) eV/Å³ or None}`` of
    all of ``potential``'s baselines (stress only for frames that carry a stress label)."""
    terms = list(potential.model.terms)[1:]
    labels = [{"energy": 0.0, "forces": np.zeros((f.n_atoms, 3)), "stress": None if f.stress is None else np.zeros((3, 3))} for f in frames]
    if terms:
        model = copy.deepcopy(ForceModel(terms)).to(torch.float64)
        graphs = build_graphs(frames, potential.cutoff)
        for lo in range(0, len(graphs), batch_size):
            chunk = graphs[lo : lo + batch_size]
            batch = collate(chunk, torch.float64)
            need_stress = any(g.frame.stress is not None for g in chunk)
            pred = model(batch.system, batch.edges, True, need_stress, False)
            n = [g.frame.n_atoms for g in chunk]
            forces = np.split(pred.forces.detach().numpy(), np.cumsum(n)[:-1])
            for k, g in enumerate(chunk):
                lab = labels[lo + k]
                lab["energy"] += float(pred.energy[k])
                lab["forces"] = lab["forces"] + forces[k]
                if lab["stress"] is not None and pred.stress is not None:
                    lab["stress"] = lab["stress"] + pred.stress[k].detach().numpy()
    if potential.external is not None:
        for f, lab in zip(frames, labels):
            if external_from_file:
                if f.baseline_energy is None and f.energy is not None or f.baseline_forces is None and f.forces is not None:
                    raise ConfigError(f"{f.source}: baseline labels requested from the file (data.keys.baseline_*) are missing")
                e, fo, s = f.baseline_energy or 0.0, f.baseline_forces, f.baseline_stress
            else:
                e, fo, s = potential.external.label_atoms(f.to_atoms(), f.total_charge, f.stress is not None)
            lab["energy"] += e
            if fo is not None:
                lab["forces"] = lab["forces"] + fo
            if lab["stress"] is not None and s is not None:
                lab["stress"] = lab["stress"] + s
    return labels
