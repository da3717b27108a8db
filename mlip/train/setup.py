"""From a TrainConfig to graphs and a potential ready to train (statistics from training data).

Baselines (``model.baselines``: a list of spec dicts, see :mod:`mlip.baselines.registry`): their
energies/forces/stresses are computed once per data file and cached next to it
(:mod:`mlip.data.baseline_cache`); the training and validation labels become target − baseline,
the network alone is trained on them (``Potential.residual_only``) and the saved potential
includes the baselines. Test frames keep their total labels: the final report is of the total.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch

from mlip.data import DataKeys, DatasetStatistics, Graph, build_graphs, check_frame, compute_statistics, read_frames, split_frames
from mlip.errors import ConfigError
from mlip.models.config import ModelConfig
from mlip.potential import Potential, build_potential, load_potential
from mlip.train.config import TrainConfig

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class PreparedData:
    train: List[Graph]
    valid: List[Graph]
    test: List[Graph]
    statistics: DatasetStatistics
    model_config: ModelConfig
    baselines: List[Dict[str, Any]] = field(default_factory=list)
    #: multi-fidelity data: per fidelity {"statistics", "delta_force_rms_eV_per_A"} (mlip.train.fidelity_setup)
    fidelity_statistics: Dict[str, Dict[str, Any]] = field(default_factory=dict)


def prepare_data(cfg: TrainConfig) -> PreparedData:
    """Read, split (seeded), and build neighbour lists; statistics from the training split only."""
    if cfg.data.fidelities is not None:  # several levels of theory (mlip.train.fidelity_setup)
        from mlip.train.fidelity_setup import prepare_fidelity_data

        return prepare_fidelity_data(cfg)
    if dict(cfg.data.keys).get("fidelity"):
        raise ConfigError("data.keys.fidelity names a fidelity label, but data.fidelities (the fidelities, lowest first, "
                          "with their label keys) is not given")
    keys = DataKeys.from_dict(dict(cfg.data.keys))
    frames = read_frames(cfg.data.train, keys, cfg.data.index)
    n_valid = 0 if cfg.data.valid else cfg.data.n_valid
    n_test = 0 if cfg.data.test else cfg.data.n_test
    train, valid, test = split_frames(frames, n_valid, n_test, cfg.data.split_seed)
    if cfg.data.valid:
        valid = read_frames(cfg.data.valid, keys)
    if cfg.data.test:
        test = read_frames(cfg.data.test, keys)
    if cfg.data.n_train is not None:
        if cfg.data.n_train > len(train):
            raise ConfigError(f"data.n_train={cfg.data.n_train} but only {len(train)} training frames are available")
        train = train[: cfg.data.n_train]
    if cfg.training.loss_config.forces_weight > 0:
        missing = [f.source for f in train + valid + test if f.forces is None]
        if missing:
            raise ConfigError(
                f"the loss uses forces (forces_weight > 0) but {len(missing)} frame(s) have none, "
                f"e.g. {missing[0]}; set data.keys.forces to the right key or forces_weight: 0"
            )
    model_cfg = _model_config(cfg, train + valid + test)
    for f in train + valid + test:
        check_frame(f, model_cfg.atomic_numbers)
    baselines = _baselines(cfg)
    if baselines or any(getattr(keys, k) for k in ("baseline_energy", "baseline_forces", "baseline_stress")):
        train, valid = _residual(cfg, keys, model_cfg, baselines, frames, train, valid)
    tr, va, te = (build_graphs(x, model_cfg.cutoff) for x in (train, valid, test))
    stats = compute_statistics(tr, model_cfg.atomic_numbers)
    if "avg_num_neighbors" not in cfg.model and not cfg.training.init_from:
        model_cfg = ModelConfig.from_dict({**model_cfg.to_dict(), "avg_num_neighbors": stats.avg_num_neighbors})
    return PreparedData(tr, va, te, stats, model_cfg, baselines)


def _baselines(cfg: TrainConfig) -> List[Dict[str, Any]]:
    """Baseline specs: ``model.baselines``, or those of the fine-tuned potential."""
    if cfg.training.init_from:
        base = load_potential(cfg.training.init_from)
        return list(base.baseline_specs) + ([base.external.spec] if base.external is not None else [])
    specs = cfg.model.get("baselines") or []
    if not isinstance(specs, list):
        raise ConfigError("model.baselines: give a list of {kind: ...} mappings")
    return specs


def _residual(cfg: TrainConfig, keys: DataKeys, model_cfg: ModelConfig, baselines, frames, train, valid):
    """Training and validation frames with all baselines subtracted (cached per data file)."""
    from mlip.baselines.baseline_labels import baseline_description, compute_baseline_labels
    from mlip.data.baseline_cache import cached_baseline_labels, subtract_baseline

    base = build_potential(model_cfg, dtype=torch.float64, baselines=baselines)
    from_file = any(getattr(keys, k) for k in ("baseline_energy", "baseline_forces", "baseline_stress"))
    if from_file and base.external is None:
        raise ConfigError(
            "data.keys.baseline_* name precomputed baseline labels, but model.baselines has no "
            "{kind: ase, ...} baseline that they would belong to; add it (e.g. calculator: gfn2-xtb)"
        )
    if base.external is not None and not from_file:
        base.external.check_available()
    description = baseline_description(base, from_file)

    def residual_of(path, path_frames):
        labels = cached_baseline_labels(path, path_frames, description, lambda fr: compute_baseline_labels(base, fr, from_file))
        return {id(f): subtract_baseline(f, lab) for f, lab in zip(path_frames, labels)}

    by_id = residual_of(cfg.data.train, frames)
    if cfg.data.valid:
        valid_frames = list(valid)
        by_id.update(residual_of(cfg.data.valid, valid_frames))
    return [by_id[id(f)] for f in train], [by_id[id(f)] for f in valid]


def _model_config(cfg: TrainConfig, frames) -> ModelConfig:
    """Elements are those present in any split (statistics still come from training only)."""
    from ase.data import chemical_symbols

    present = sorted({int(z) for f in frames for z in f.numbers})
    if cfg.training.init_from:
        base = load_potential(cfg.training.init_from).config
        new = [chemical_symbols[z] for z in present if z not in base.atomic_numbers]
        if new:
            raise ConfigError(
                f"fine-tuning cannot add elements {new}: {cfg.training.init_from} knows only {list(base.elements)}; "
                "train a new model (or one whose elements include them)"
            )
        model = {k: v for k, v in cfg.model.items() if k != "baselines"}
        if model and ModelConfig.from_dict({**base.to_dict(), **model}) != base:
            raise ConfigError("model: must be empty or identical to the fine-tuned potential's config when training.init_from is set")
        return base
    d = dict(cfg.model)
    d.pop("baselines", None)
    d.setdefault("elements", [chemical_symbols[z] for z in present])
    if "cutoff" not in d:
        raise ConfigError("model.cutoff: give the radial cutoff in Å")
    return ModelConfig.from_dict(d)


def initial_potential(cfg: TrainConfig, data: PreparedData, member: int = 0) -> Potential:
    """A new potential with per-element shifts (eV) and scale (force RMS) from training data,
    or the fine-tuning start point with the requested parameters frozen (fine-tuning a committee
    with the same ``committee_size``: member k starts from its member k)."""
    dtype = DTYPES[cfg.training.dtype]
    if cfg.training.init_from:
        pot = load_potential(cfg.training.init_from, dtype=dtype, device=cfg.training.device, backend=cfg.training.backend)
        n, m = cfg.training.committee_size, pot.committee_size
        if m > 1 and n == m:  # a committee fine-tuned member by member: member k starts from member k
            pot = committee_member(pot, member)
        elif m > 1 and n > 1:
            raise ConfigError(f"training.committee_size = {n}, but training.init_from {cfg.training.init_from} is a "
                              f"committee of {m}: set committee_size to {m} (each member fine-tuned from its own) or 1 "
                              "(the committee fine-tuned as one model, through its mean)")
    else:
        pot = build_potential(
            data.model_config, dtype=dtype, device=cfg.training.device, seed=cfg.training.seed + 1000 * member,
            baselines=data.baselines, backend=cfg.training.backend,
        )
        readout = pot.model.terms[0].readout
        with torch.no_grad():
            zs = data.model_config.atomic_numbers
            readout.shift.copy_(torch.tensor([data.statistics.atomic_energies_eV[z] for z in zs], dtype=dtype))
            readout.scale.fill_(max(data.statistics.force_rms_eV_per_A, 1e-3))
        if data.fidelity_statistics:  # per-fidelity reference energies and scales of the fidelity heads
            from mlip.train.fidelity_setup import initialise_fidelity_heads

            initialise_fidelity_heads(pot, data.fidelity_statistics)
    # the labels are target − baselines: train the network alone; saved files include the baselines
    pot.residual_only = bool(data.baselines)
    pot.return_charges = pot.has_charges and any(
        g.frame.charges is not None or g.frame.dipole is not None for g in data.train + data.valid
    )
    frozen = 0
    for name, p in pot.named_parameters():
        if any(name.startswith(prefix) for prefix in cfg.training.freeze):
            p.requires_grad_(False)
            frozen += 1
    if cfg.training.freeze and frozen == 0:
        raise ConfigError(
            f"training.freeze {list(cfg.training.freeze)} matches no parameter; names look like "
            f"{[n for n, _ in pot.named_parameters()][:4]}"
        )
    return pot


def committee_member(potential: Potential, k: int) -> Potential:
    """Member ``k`` of a committee potential as a single potential: its network, the same
    baselines (weights included), dtype, device, kernels and selected fidelity."""
    specs = list(potential.baseline_specs) + ([potential.external.spec] if potential.external is not None else [])
    pot = build_potential(potential.config, dtype=potential.dtype, device=potential.device, info=dict(potential.info),
                          baselines=specs, load_weights=False, backend=potential.backend)
    with torch.no_grad():
        pot.model.terms[0].load_state_dict(potential.model.terms[0].members[k].state_dict())
        for new, old in zip(list(pot.model.terms)[1:], list(potential.model.terms)[1:]):  # baselines
            new.load_state_dict(old.state_dict())
    return pot.set_fidelity(potential.fidelity)
