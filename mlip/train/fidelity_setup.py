"""Multi-fidelity training data and initialisation (``data.fidelities``).

* Frames of every fidelity are read and split by structure (:mod:`mlip.data.fidelities`); the
  model's ``fidelities`` are the data's, lowest first (or, when fine-tuning, the potential's,
  which must include every fidelity of the data).
* Baselines apply to **every** fidelity: each fidelity's labels become target − baselines.
* Statistics per fidelity (training frames only): per-element reference energies E0 (eV) and
  force RMS (eV/Å). The loss scales use the pooled statistics: the force RMS over all
  fidelities' frames and the RMS of each frame's energy per atom relative to its own
  fidelity's E0, never the spread between the fidelities' absolute energies.
* ``data.balance_fidelities`` (default true): each fidelity's training frames are repeated so
  that every fidelity fills about the same share of an epoch (the most numerous sets the
  count). With the per-frame weights (``loss_weight``) the loss is then, in expectation,
  Σ_f loss_weight_f · L_f / n_fidelities, L_f the mean over fidelity f's frames. A number s
  in (0, 1] repeats each scarcer fidelity up to s times the most numerous one's count (a
  smaller share of each epoch for the scarce, expensive labels; more steps on the abundant
  ones); false or 0: no repeats, each fidelity in proportion to its frames.
* A new model starts from: the trunk readout with the lowest fidelity's E0 and force RMS;
  each higher fidelity's δ readout with its own E0, scale = RMS of the force difference to the
  next lower fidelity on structures labelled at both (else its force RMS), ρ = 1, δ's MLP 0.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from mlip.data import DatasetStatistics, build_graphs, check_frame, compute_statistics
from mlip.data.batch import Graph
from mlip.data.fidelities import parse_fidelities, split_fidelity_frames
from mlip.errors import ConfigError
from mlip.models.config import ModelConfig
from mlip.models.multi_fidelity import fidelity_models
from mlip.train.config import TrainConfig


def prepare_fidelity_data(cfg: TrainConfig):
    """:class:`mlip.train.setup.PreparedData` of multi-fidelity data (``cfg.data.fidelities``)."""
    from mlip.train.setup import PreparedData, _baselines, _model_config

    specs = parse_fidelities(cfg.data.fidelities, dict(cfg.data.keys))
    names = [s.name for s in specs]
    train, valid, test, files = split_fidelity_frames(cfg.data, specs)
    model_cfg = _model_config(_with_model_fidelities(cfg, names), train + valid + test)
    if not model_cfg.fidelities:
        raise ConfigError(f"training.init_from {cfg.training.init_from} is a single-fidelity potential; multi-fidelity "
                          "data needs a multi-fidelity model: train a new one (or use the potential as a frozen_potential baseline)")
    unknown = [n for n in names if n not in model_cfg.fidelities]
    if unknown:
        raise ConfigError(f"data.fidelities {unknown} are not fidelities of the model {list(model_cfg.fidelities)}")
    for f in train + valid + test:
        check_frame(f, model_cfg.atomic_numbers)
    baselines = _baselines(cfg)
    keys_name_baseline = any(getattr(s.keys, k) for s in specs for k in ("baseline_energy", "baseline_forces", "baseline_stress"))
    if baselines or keys_name_baseline:
        train, valid = _residual(cfg, model_cfg, baselines, files, train, valid, keys_name_baseline)
    tr, va, te = (build_graphs(x, model_cfg.cutoff) for x in (train, valid, test))
    per_fidelity = fidelity_statistics(tr, model_cfg)
    if not cfg.training.init_from:
        missing = [n for n in model_cfg.fidelities if n not in per_fidelity]
        if missing:
            raise ConfigError(f"fidelities {missing} have no training frames; every fidelity of a new model needs some")
    stats = pooled_statistics(tr, model_cfg, per_fidelity)
    if "avg_num_neighbors" not in cfg.model and not cfg.training.init_from:
        model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "avg_num_neighbors": stats.avg_num_neighbors})
    if cfg.data.balance_fidelities:
        tr = balanced(tr, float(cfg.data.balance_fidelities))
    return PreparedData(tr, va, te, stats, model_cfg, baselines, per_fidelity)


def _with_model_fidelities(cfg: TrainConfig, names: List[str]) -> TrainConfig:
    """``cfg`` whose ``model.fidelities`` are the data's (an explicit one must list them all)."""
    if cfg.training.init_from:
        return cfg
    given = cfg.model.get("fidelities")
    if given is not None:
        if [n for n in given if n in names] != names:
            raise ConfigError(f"model.fidelities {list(given)} must list every fidelity of data.fidelities {names} in the same order")
        return cfg
    return dataclasses.replace(cfg, model={**cfg.model, "fidelities": names})


def _residual(cfg, model_cfg, baselines, files, train, valid, from_file: bool):
    """Train/valid frames of every fidelity with all baselines subtracted; baseline labels are
    computed once per structure (cached per data file, as for single-fidelity data)."""
    from mlip.baselines.baseline_labels import baseline_description, compute_baseline_labels
    from mlip.data.baseline_cache import cached_baseline_labels, subtract_baseline
    from mlip.potential import build_potential

    base = build_potential(dataclasses.replace(model_cfg, fidelities=()), dtype=torch.float64, baselines=baselines)
    if from_file and base.external is None:
        raise ConfigError("data keys baseline_* name precomputed baseline labels, but model.baselines has no "
                          "{kind: ase, ...} baseline that they would belong to; add it (e.g. calculator: gfn2-xtb)")
    if base.external is not None and not from_file:
        base.external.check_available()
    description = baseline_description(base, from_file)
    label_of: Dict[str, Any] = {}
    for path, structures in files.items():
        firsts = [s[0] for s in structures]
        labels = cached_baseline_labels(path, firsts, description, lambda fr: compute_baseline_labels(base, fr, from_file))
        label_of.update({f.source: lab for f, lab in zip(firsts, labels)})
    others = [f for f in valid if f.source not in label_of]  # frames of a separate validation file
    label_of.update({f.source: lab for f, lab in zip(others, compute_baseline_labels(base, others, from_file))})
    return [subtract_baseline(f, label_of[f.source]) for f in train], [subtract_baseline(f, label_of[f.source]) for f in valid]


def fidelity_statistics(graphs: Sequence[Graph], config: ModelConfig) -> Dict[str, Dict[str, Any]]:
    """Per fidelity of the training graphs: ``{"statistics": DatasetStatistics, "delta_force_rms_eV_per_A":
    RMS of (F_k − F_{k−1}) over structures labelled at both, or None}``."""
    out: Dict[str, Dict[str, Any]] = {}
    by_source: Dict[str, Dict[str, Any]] = {}
    for g in graphs:
        by_source.setdefault(g.frame.source, {})[g.frame.fidelity] = g.frame.forces
    for k, name in enumerate(config.fidelities):
        mine = [g for g in graphs if g.frame.fidelity == name]
        if not mine:
            continue
        diffs = []
        if k > 0:
            lower = config.fidelities[k - 1]
            diffs = [(f[name] - f[lower]).reshape(-1) for f in by_source.values()
                     if f.get(name) is not None and f.get(lower) is not None]
        delta = float(np.sqrt(np.mean(np.concatenate(diffs) ** 2))) if diffs else None
        out[name] = {"statistics": compute_statistics(mine, config.atomic_numbers), "delta_force_rms_eV_per_A": delta}
    return out


def pooled_statistics(graphs: Sequence[Graph], config: ModelConfig, per_fidelity: Dict[str, Dict[str, Any]]) -> DatasetStatistics:
    """One DatasetStatistics for the loss scales: E0 of the lowest fidelity present, RMS values
    pooled over fidelities (energies relative to each fidelity's own E0), neighbours of all."""
    def pooled(attr: str, count) -> float:
        pairs = [(getattr(s["statistics"], attr), count(name)) for name, s in per_fidelity.items()]
        n = sum(c for _, c in pairs)
        return math.sqrt(sum(v * v * c for v, c in pairs) / n) if n else 0.0

    def frames_with(label):
        return lambda name: sum(1 for g in graphs if g.frame.fidelity == name and getattr(g.frame, label) is not None)

    lowest = per_fidelity[next(n for n in config.fidelities if n in per_fidelity)]["statistics"]
    n_edges = sum(g.index.shape[1] for g in graphs)
    n_atoms = sum(g.frame.n_atoms for g in graphs)
    return DatasetStatistics(dict(lowest.atomic_energies_eV), pooled("force_rms_eV_per_A", frames_with("forces")),
                             pooled("energy_per_atom_rms_eV", frames_with("energy")),
                             pooled("stress_rms_eV_per_A3", frames_with("stress")), max(n_edges / max(n_atoms, 1), 1.0))


def repeats(share: float, n_max: int, n_f: int) -> int:
    """How often :func:`balanced` repeats each frame of a fidelity with ``n_f`` frames when the
    most numerous has ``n_max``: max(1, round(share · n_max / n_f))."""
    return max(1, round(share * n_max / n_f))


def balanced(graphs: List[Graph], share: float = 1.0) -> List[Graph]:
    """Each fidelity's graphs repeated :func:`repeats` times, n_f its count and n_max the most
    numerous fidelity's (``share`` 1: every fidelity about n_max frames)."""
    counts: Dict[str, int] = {}
    for g in graphs:
        counts[g.frame.fidelity] = counts.get(g.frame.fidelity, 0) + 1
    n_max = max(counts.values(), default=0)
    out = []
    for g in graphs:
        out += [g] * repeats(share, n_max, counts[g.frame.fidelity])
    return out


def initialise_fidelity_heads(potential, per_fidelity: Dict[str, Dict[str, Any]]) -> None:
    """Set a new multi-fidelity model's readouts from the statistics (see the module doc)."""
    for model in fidelity_models(potential.model.terms[0]):
        zs = potential.config.atomic_numbers
        readouts = [model.readout] + list(model.heads)
        with torch.no_grad():
            for k, (name, readout) in enumerate(zip(model.fidelity_names, readouts)):
                stats = per_fidelity[name]["statistics"]
                readout.shift.copy_(torch.tensor([stats.atomic_energies_eV[z] for z in zs], dtype=readout.shift.dtype))
                delta = per_fidelity[name]["delta_force_rms_eV_per_A"]
                scale = stats.force_rms_eV_per_A if k == 0 or delta is None else delta
                readout.scale.fill_(max(scale, 1e-3))
