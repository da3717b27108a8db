"""The training loop: AdamW, EMA of weights, LR schedule, gradient clipping, early stopping,
atomic checkpoints with exact resume, metrics CSV, best model saved as a potential file.

Determinism: all randomness (initialisation, shuffling) comes from explicit generators seeded
by ``training.seed``; on CPU a run is reproducible and ``resume`` continues bit-for-bit.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from mlip.data.batch import Graph, iterate_batches
from mlip.potential import Potential
from mlip.train.checkpoint import load_checkpoint, save_checkpoint, write_metrics_csv
from mlip.train.config import TrainConfig
from mlip.train.loss import Loss
from mlip.train.metrics import evaluate
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

    def ema_potential(self) -> Potential:
        """A copy of the potential carrying the EMA weights."""
        pot = copy.deepcopy(self.pot)
        pot.load_state_dict(self.ema)
        return pot

    # -- loop ------------------------------------------------------------------------------
    def train_epoch(self) -> Dict[str, float]:
        t = self.cfg.training
        self.pot.train()
        need_stress = self.cfg.training.loss_config.stress_weight > 0
        totals: Dict[str, float] = {}
        n = 0
        for batch in iterate_batches(self.graphs, t.batch_size, self.pot.dtype, True, self.shuffle, self.pot.device):
            stress = need_stress and bool(batch.stress_mask.any())
            pred = self.pot(batch.system, batch.edges, compute_stress=stress, create_graph=True)
            loss, parts = self.loss(pred, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if t.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_([p for p in self.pot.parameters() if p.requires_grad], t.clip_grad_norm)
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
            totals["loss"] = totals.get("loss", 0.0) + float(loss.detach())
            for k, v in parts.items():
                totals[f"loss_{k}"] = totals.get(f"loss_{k}", 0.0) + float(v.detach())
            n += 1
        return {f"train_{k}": v / max(n, 1) for k, v in totals.items()}

    def validation_loss(self, pot: Potential) -> float:
        graphs = self.data.valid or self.data.train
        total, n = 0.0, 0
        need_stress = self.cfg.training.loss_config.stress_weight > 0
        for batch in iterate_batches(graphs, self.cfg.training.batch_size, pot.dtype, False, device=pot.device):
            pred = pot(batch.system, batch.edges, compute_stress=need_stress and bool(batch.stress_mask.any()))
            loss, _ = self.loss(pred, batch)
            total += float(loss) * int(batch.n_atoms.numel())
            n += int(batch.n_atoms.numel())
        return total / max(n, 1)

    def run(self, progress: Optional[Any] = None) -> Path:
        """Train until ``epochs``, early stopping, or ``max_time_s``; returns the best potential path."""
        t = self.cfg.training
        self.out.mkdir(parents=True, exist_ok=True)
        while self.epoch < t.epochs:
            start = time.perf_counter()
            row: Dict[str, Any] = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self.train_epoch())
            ema_pot = self.ema_potential().eval()
            val = self.validation_loss(ema_pot)
            row["valid_loss"] = val
            metrics = evaluate(ema_pot, self.data.valid or self.data.train, t.batch_size)
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
            if progress is not None:
                progress(row)
            if t.early_stopping_patience is not None and self.bad_epochs >= t.early_stopping_patience:
                break
            if t.max_time_s is not None and self.elapsed_s >= t.max_time_s:
                break
        save_checkpoint(self.out / CHECKPOINT, self.state())
        return self.out / BEST
