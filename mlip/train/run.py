"""``train(config)``: data -> (committee of) trained potential(s) -> test-set report.

Output directory layout::

    out/best.pt              the trained potential (committee if committee_size > 1)
    out/metrics.csv          per-epoch metrics (single model) or out/member_k/metrics.csv
    out/checkpoint.pt        resumable state (or out/member_k/checkpoint.pt)
    out/config.yaml          the resolved configuration
    out/test_metrics.json    errors of best.pt on the test split (multi-fidelity: also per
                             fidelity, e.g. "b3lyp_forces_mae_meV/A")
    out/calibration.json     committees: the uncertainty scale fitted on the validation split
                             (stored in best.pt) and its diagnostics (mlip.train.calibration),
    out/calibration.png/.csv with the binned calibration curve
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
import yaml

from mlip.errors import DataError
from mlip.potential import Potential, build_potential, load_potential
from mlip.train.calibration import DEFAULT_METHOD, calibrate
from mlip.train.calibration_plot import write_calibration_plot
from mlip.train.checkpoint import atomic_write_bytes
from mlip.train.config import TrainConfig
from mlip.train.fidelity_metrics import evaluate_with_fidelities, fidelity_frame_counts
from mlip.train.setup import DTYPES, initial_potential, prepare_data
from mlip.train.trainer import BEST, CHECKPOINT, Trainer


def train(cfg: TrainConfig, resume: bool = False, progress: Optional[Callable[[Dict], None]] = None) -> Path:
    """Train as configured; with ``resume`` continue from the checkpoints in ``cfg.output``.

    Returns the path of the best potential (``output/best.pt``).
    """
    out = Path(cfg.output)
    data = prepare_data(cfg)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())
    n = cfg.training.committee_size
    member_paths = []
    for k in range(n):
        member_dir = out if n == 1 else out / f"member_{k}"
        pot = initial_potential(cfg, data, member=k)
        trainer = Trainer(cfg, data, pot, member_dir, member=k)
        if resume and (member_dir / CHECKPOINT).exists():
            trainer.resume()
            if (member_dir / BEST).exists() and trainer.epoch >= cfg.training.epochs:
                member_paths.append(member_dir / BEST)
                continue
        member_paths.append(trainer.run(progress))
    best = out / BEST
    if n > 1:
        members = [load_potential(p) for p in member_paths]
        committee = assemble_committee(members)
        _calibrate(committee, data.valid, out, cfg.training.batch_size)
        committee.save(best)
    final = load_potential(best)
    report = {"n_train": len(data.train), "n_valid": len(data.valid), "n_test": len(data.test)}
    report.update(fidelity_frame_counts(data.train, data.valid, data.test))  # multi-fidelity: distinct frames per fidelity
    if data.test:
        report.update(evaluate_with_fidelities(final, data.test, cfg.training.batch_size))  # + per-fidelity keys
    atomic_write_bytes(out / "test_metrics.json", json.dumps(report, indent=2).encode())
    return best


def _calibrate(committee: Potential, valid, out: Path, batch_size: int) -> None:
    """Fit the committee's uncertainty scale on the validation split (2σ coverage 95 %) in place and
    write calibration.json/.png/.csv; without usable validation forces the scale stays 1 and
    calibration.json says why."""
    try:
        report = calibrate(committee, valid, batch_size)
    except DataError as exc:
        result = {"calibrated": False, "reason": f"validation split: {exc}"}
    else:
        write_calibration_plot(report, out / "calibration.png", title="validation split")
        result = {"calibrated": True, "method": DEFAULT_METHOD, "target_coverage": 0.95, "summary": report.summary(),
                  **report.to_dict()}
    atomic_write_bytes(out / "calibration.json", json.dumps(result, indent=1).encode())


def assemble_committee(members) -> Potential:
    """One committee potential from single-model potentials with identical configs."""
    cfg = members[0].config
    if any(m.config != cfg for m in members):
        raise ValueError("committee members must share one model config")
    if any(m.committee_size != 1 for m in members):
        raise ValueError("committee members must be single models")
    m0 = members[0]
    baselines = list(m0.baseline_specs) + ([m0.external.spec] if m0.external is not None else [])
    pot = build_potential(cfg, dtype=m0.dtype, committee_size=len(members), info={"members": len(members)}, baselines=baselines, load_weights=False)
    with torch.no_grad():
        for k, m in enumerate(members):
            pot.model.terms[0].members[k].load_state_dict(m.model.terms[0].state_dict())
        for new, old in zip(list(pot.model.terms)[1:], list(m0.model.terms)[1:]):  # baselines
            new.load_state_dict(old.state_dict())
    return pot
