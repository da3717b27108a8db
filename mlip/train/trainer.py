"""The training loop: AdamW, EMA of weights, LR schedule, gradient clipping, early stopping,
atomic checkpoints with exact resume, metrics CSV, best model saved as a potential file.

Determinism: all randomness (initialisation, shuffling) comes from explicit generators seeded
by ``training.seed``; on CPU a run is reproducible and ``resume`` continues bit-for-bit.

A non-finite (NaN/inf) training loss, gradient or validation loss stops training with a
:class:`mlip.errors.TrainingError` before the optimiser applies it; the message names the
epoch, batch, loss components and frames, the likely cause and the fix. Nothing is written for
the failing epoch, so ``checkpoint.pt`` and ``best.pt`` stay the last good ones.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from mlip.data.batch import Graph, batch_groups, collate
from mlip.errors import TrainingError
from mlip.potential import Potential
from mlip.train.checkpoint import load_checkpoint, save_checkpoint, write_metrics_csv
from mlip.train.config import TrainConfig
from mlip.train.loss import Loss
from mlip.train.fidelity_metrics import score
from mlip.train.properties import property_loss_for
from mlip.train.setup import PreparedData

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.csv"


class Trainer:
    """Trains one potential on prepared data; files go to ``output_dir``."""

    def __init__(self, cfg: TrainConfig, data: PreparedData, potential: Potential, output_dir: Path, member: int = 0):
        self.cfg, self.data, self.pot = cfg, data, potential
        self.out = Path(output_dir)
        t = cfg.training
        stats = data.statistics
        self.loss = Loss(t.loss_config, stats.energy_per_atom_rms_eV or stats.force_rms_eV_per_A, stats.force_rms_eV_per_A, stats.stress_rms_eV_per_A3)
        self.properties = property_loss_for(t.property_targets, potential)  # training.properties (may be empty)
        params = [p for p in potential.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
        if t.scheduler == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=t.plateau_factor, patience=t.plateau_patience, min_lr=t.min_lr)
        elif t.scheduler == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=t.epochs, eta_min=t.min_lr)
        else:
            self.scheduler = None
        self.ema = {k: v.detach().clone() for k, v in potential.state_dict().items()}
        self.n_updates = 0
        self._ema_copy: Optional[Potential] = None
        self.shuffle = torch.Generator().manual_seed(t.seed + 7919 * member)
        self.graphs = data.train
        if t.bootstrap and member > 0:
            g = torch.Generator().manual_seed(t.seed + 104729 * member)
            idx = torch.randint(len(data.train), (len(data.train),), generator=g).tolist()
            self.graphs = [data.train[i] for i in idx]
        self.epoch = 0
        self.best_val = float("inf")
        self.best_epoch = -1
        self.bad_epochs = 0
        self.rows: List[Dict[str, Any]] = []
        self.elapsed_s = 0.0
        self.checkpoint_epoch: Optional[int] = None  # epoch of the checkpoint on disk (None: none yet)

    # -- state ---------------------------------------------------------------------------
    def state(self) -> Dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.pot.state_dict(),
            "ema": self.ema,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "shuffle_rng": self.shuffle.get_state(),
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "rows": self.rows,
            "elapsed_s": self.elapsed_s,
            "n_updates": self.n_updates,
        }

    def resume(self, path: Optional[Path] = None) -> None:
        """Restore everything from the checkpoint (default: ``output_dir/checkpoint.pt``)."""
        s = load_checkpoint(path or self.out / CHECKPOINT)
        self.pot.load_state_dict(s["model"])
        self.ema = s["ema"]
        self.optimizer.load_state_dict(s["optimizer"])
        if self.scheduler is not None and s["scheduler"] is not None:
            self.scheduler.load_state_dict(s["scheduler"])
        self.shuffle.set_state(s["shuffle_rng"])
        self.epoch, self.best_val, self.best_epoch = s["epoch"], s["best_val"], s["best_epoch"]
        self.bad_epochs, self.rows, self.elapsed_s = s["bad_epochs"], list(s["rows"]), s["elapsed_s"]
        self.n_updates = s["n_updates"]
        self.checkpoint_epoch = self.epoch

    def _ema_for_validation(self) -> Potential:
        """The potential carrying the EMA weights: one copy, made once and given the current
        weights each epoch (a deep copy per epoch costs as much as validating a few frames)."""
        if self._ema_copy is None:
            self._ema_copy = copy.deepcopy(self.pot)
        self._ema_copy.load_state_dict(self.ema)
        return self._ema_copy.eval()

    # -- loop ------------------------------------------------------------------------------
    def train_epoch(self) -> Dict[str, float]:
        t = self.cfg.training
        self.pot.train()
        need_stress = self.cfg.training.loss_config.stress_weight > 0
        totals: Dict[str, float] = {}
        n = 0
        params = [p for p in self.pot.parameters() if p.requires_grad]
        groups = batch_groups(self.graphs, t.batch_size, True, self.shuffle)  # graphs kept: errors name frames
        n_batches = len(groups)
        for b, graphs in enumerate(groups):
            batch = collate(graphs, self.pot.dtype, self.pot.device)
            stress = need_stress and bool(batch.stress_mask.any())
            pred = self.pot(batch.system, batch.edges, compute_stress=stress, create_graph=True, fidelity=batch.fidelity)
            loss, parts = self.loss(pred, batch)
            if len(self.properties):  # property targets join every step's loss
                prop_loss, prop_parts = self.properties(self.pot)
                loss, parts = loss + prop_loss, {**parts, **prop_parts}
            # the values are needed for the epoch means anyway: one host sync, as before
            loss_value = float(loss.detach())
            part_values = {k: float(v.detach()) for k, v in parts.items()}
            if not math.isfinite(loss_value):
                raise self._non_finite_error("loss", b, n_batches, graphs, loss_value, part_values)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grads = [p.grad for p in params if p.grad is not None]
            if t.clip_grad_norm:
                grad_norm = torch.nn.utils.clip_grad_norm_(params, t.clip_grad_norm)
            else:
                grad_norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
            if not math.isfinite(float(grad_norm)):
                raise self._non_finite_error("gradient", b, n_batches, graphs, loss_value, part_values)
            self.optimizer.step()
            with torch.no_grad():
                # warm-up: early averages do not remember the random initialisation
                d = min(t.ema_decay, (1.0 + self.n_updates) / (10.0 + self.n_updates))
                self.n_updates += 1
                for k, v in self.pot.state_dict().items():
                    if v.is_floating_point():
                        self.ema[k].mul_(d).add_(v.detach(), alpha=1.0 - d)
                    else:
                        self.ema[k].copy_(v)
            totals["loss"] = totals.get("loss", 0.0) + loss_value
            for k, v in part_values.items():
                totals[f"loss_{k}"] = totals.get(f"loss_{k}", 0.0) + v
            n += 1
        return {f"train_{k}": v / max(n, 1) for k, v in totals.items()}

    # -- non-finite losses -------------------------------------------------------------------
    def _frame_diagnosis(self, pot: Potential, graphs: List[Graph]) -> List[str]:
        """One line per frame of ``graphs`` whose labels, prediction or own loss is not finite."""
        need_stress = self.cfg.training.loss_config.stress_weight > 0
        lines = []
        for g in graphs:
            f = g.frame
            labels = [name for name in ("energy", "forces", "stress", "charges", "dipole")
                      if getattr(f, name, None) is not None and not np.isfinite(np.asarray(getattr(f, name))).all()]
            if labels:
                lines.append(f"{f.source}: its {', '.join(labels)} label(s) are NaN/inf")
                continue
            try:
                one = collate([g], pot.dtype, pot.device)
                pred = pot(one.system, one.edges, compute_stress=need_stress and bool(one.stress_mask.any()), fidelity=one.fidelity)
                _, parts = self.loss(pred, one)
            except Exception as exc:  # noqa: BLE001 - diagnosis only; the original failure is reported
                lines.append(f"{f.source}: evaluating it alone failed ({exc})")
                continue
            outputs = [name for name in ("energy", "forces", "stress")
                       if getattr(pred, name, None) is not None and not bool(torch.isfinite(getattr(pred, name)).all())]
            bad = sorted(k for k, v in parts.items() if not math.isfinite(float(v)))
            if outputs or bad:
                what = f"predicted {', '.join(outputs)}" if outputs else f"loss component(s) {', '.join(bad)}"
                lines.append(f"{f.source}: its {what} are NaN/inf")
        return lines

    def _files_note(self) -> str:
        out, epoch = self.out, self.epoch + 1
        if self.checkpoint_epoch is None and self.best_epoch < 1:
            return (f"Nothing was written for epoch {epoch}, and no checkpoint or best model exists yet: "
                    "after the fix, start the training again.")
        kept = []
        if self.checkpoint_epoch is not None:
            kept.append(f"{out / CHECKPOINT} (end of epoch {self.checkpoint_epoch}) is the last good checkpoint")
        if self.best_epoch >= 1:
            kept.append(f"{out / BEST} (epoch {self.best_epoch}) is the best model so far")
        note = f"Nothing was written for epoch {epoch}: {' and '.join(kept)}, untouched."
        if self.checkpoint_epoch is not None:
            note += (" After the fix, `mlip train CONFIG --resume` continues from the checkpoint (with its "
                     "optimiser state, learning rate included: to lower the learning rate, start again).")
        return note

    def _non_finite_error(self, what: str, b: int, n_batches: int, graphs: List[Graph], loss_value: float,
                          part_values: Dict[str, float]) -> TrainingError:
        t = self.cfg.training
        epoch = self.epoch + 1
        bad_parts = sorted(k for k, v in part_values.items() if not math.isfinite(v))
        if what == "loss":
            parts = (f"non-finite loss component(s): {', '.join(bad_parts)}" if bad_parts
                     else f"every component is finite ({part_values}), their weighted sum overflowed")
            head = f"non-finite training loss ({loss_value}) at epoch {epoch}, batch {b + 1}/{n_batches}; {parts}"
        else:
            head = (f"non-finite gradient at epoch {epoch}, batch {b + 1}/{n_batches} (the loss, {loss_value:.6g}, "
                    f"is finite: components {part_values}); the optimiser step was not taken")
        frames = ", ".join(g.frame.source for g in graphs)
        bad_weights = [name for name, p in self.pot.named_parameters() if not bool(torch.isfinite(p).all())]
        culprits = self._frame_diagnosis(self.pot, graphs) if not bad_weights else []
        label_frames = [c for c in culprits if "label" in c]
        largest = max((float(p.detach().abs().max()) for p in self.pot.parameters() if p.numel()), default=0.0)
        lower_lr = (f"lower training.lr (e.g. to {t.lr / 10:g}) and keep training.clip_grad_norm set "
                    f"(now {t.clip_grad_norm})")
        if label_frames:
            cause = ("Likely cause: a bad frame in the data: " + "; ".join(label_frames)
                     + ". Fix: correct or remove that frame (data.index or the data file), then train again.")
        elif culprits and len(culprits) == len(graphs) and len(graphs) > 1:
            cause = (f"Likely cause: the model diverged: it gives NaN/inf on every frame of the batch (largest "
                     f"|weight| {largest:.3g}), i.e. the learning rate training.lr = {t.lr:g} is too high. Fix: "
                     f"{lower_lr}.")
        elif bad_weights:
            cause = (f"Likely cause: the model diverged: the weights ({', '.join(bad_weights[:3])}"
                     f"{', ...' if len(bad_weights) > 3 else ''}) are no longer finite after the previous update, "
                     f"i.e. the learning rate training.lr = {t.lr:g} is too high. Fix: {lower_lr}.")
        elif culprits:
            cause = ("Likely cause: a bad frame (atoms much closer than in the rest of the data, or far outside "
                     "it): " + "; ".join(culprits) + f". Fix: inspect and remove that frame; if the data are fine, "
                     f"the learning rate training.lr = {t.lr:g} is too high: lower it (e.g. to {t.lr / 10:g}).")
        else:
            cause = (f"Likely cause: the learning rate training.lr = {t.lr:g} is too high (the model diverged; "
                     f"no single frame of the batch is at fault). Fix: {lower_lr}; float64 (training.dtype) also "
                     "helps when float32 overflows.")
        return TrainingError(f"training stopped: {head}. Frames of the batch: {frames}. {cause} {self._files_note()}")

    def _check_validation(self, pot: Potential, val: float) -> None:
        if math.isfinite(val):
            return
        graphs = self.data.valid or self.data.train
        culprits = self._frame_diagnosis(pot, graphs)
        t = self.cfg.training
        if culprits:
            cause = ("Likely cause: a bad frame: " + "; ".join(culprits[:5]) + (" ..." if len(culprits) > 5 else "")
                     + ". Fix: correct or remove it.")
        else:
            cause = (f"Likely cause: the learning rate training.lr = {t.lr:g} is too high (the averaged weights "
                     f"diverged). Fix: lower training.lr (e.g. to {t.lr / 10:g}).")
        raise TrainingError(f"training stopped: non-finite validation loss ({val}) after epoch {self.epoch + 1}. "
                            f"{cause} {self._files_note()}")

    def validation(self, pot: Potential) -> Tuple[float, Dict[str, Any]]:
        """The validation loss and metrics (:mod:`mlip.train.fidelity_metrics`) of ``pot``, from
        one pass over the validation frames (the training frames when there are none)."""
        errors, loss = score(pot, self.data.valid or self.data.train, self.cfg.training.batch_size, self.loss)
        return loss, errors.pooled()

    def run(self, progress: Optional[Any] = None) -> Path:
        """Train until ``epochs``, early stopping, or ``max_time_s``; returns the best potential path."""
        t = self.cfg.training
        self.out.mkdir(parents=True, exist_ok=True)
        while self.epoch < t.epochs:
            start = time.perf_counter()
            row: Dict[str, Any] = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self.train_epoch())
            ema_pot = self._ema_for_validation()
            val, metrics = self.validation(ema_pot)
            if len(self.properties):  # logged next to the frame metrics, and part of the validation loss
                prop_values = self.properties.values(ema_pot)
                row.update(prop_values)
                val += self.properties.weighted_total(prop_values)
            self._check_validation(ema_pot, val)
            row["valid_loss"] = val
            row.update({f"valid_{k}": v for k, v in metrics.items()})
            if self.scheduler is not None:
                if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    self.scheduler.step(val)
                else:
                    self.scheduler.step()
            self.epoch += 1
            if val < self.best_val:
                self.best_val, self.best_epoch, self.bad_epochs = val, self.epoch, 0
                ema_pot.info = {"best_epoch": self.epoch, "valid_loss": val, **self.data.statistics.to_dict()}
                ema_pot.save(self.out / BEST)
            else:
                self.bad_epochs += 1
            self.elapsed_s += time.perf_counter() - start
            row["elapsed_s"] = round(self.elapsed_s, 3)
            self.rows.append(row)
            write_metrics_csv(self.out / METRICS, self.rows)
            if self.epoch % t.checkpoint_every == 0 or self.epoch == t.epochs:
                save_checkpoint(self.out / CHECKPOINT, self.state())
                self.checkpoint_epoch = self.epoch
            if progress is not None:
                progress(row)
            if t.early_stopping_patience is not None and self.bad_epochs >= t.early_stopping_patience:
                break
            if t.max_time_s is not None and self.elapsed_s >= t.max_time_s:
                break
        save_checkpoint(self.out / CHECKPOINT, self.state())
        self.checkpoint_epoch = self.epoch
        return self.out / BEST
