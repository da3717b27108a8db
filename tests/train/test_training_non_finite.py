"""A non-finite loss stops training with a TrainingError that names the epoch, batch, loss
components, frame, cause and fix; the last good checkpoint and best model stay on disk, load,
and resume."""
import csv

import numpy as np
import pytest
import torch

import mlip
from mlip.errors import MLIPError, TrainingError
from mlip.train import TrainConfig, train
from mlip.train.setup import initial_potential, prepare_data
from mlip.train.trainer import Trainer
from emt_fixtures import tiny_config


def test_nan_label_at_a_later_epoch_names_the_frame_and_keeps_the_last_checkpoint(emt_file, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig.from_dict(tiny_config(emt_file, out, epochs=2))
    data = prepare_data(cfg)
    trainer = Trainer(cfg, data, initial_potential(cfg, data), out)
    victim = data.train[4].frame

    def poison_after_epoch_1(row):  # a label goes bad between epochs (as a corrupted frame would)
        if row["epoch"] == 1:
            victim.forces[2, 1] = np.nan

    with pytest.raises(TrainingError) as info:
        trainer.run(progress=poison_after_epoch_1)
    message = str(info.value)
    assert isinstance(info.value, MLIPError) and isinstance(info.value, RuntimeError)
    assert "non-finite training loss" in message and "at epoch 2, batch " in message
    assert "non-finite loss component(s): forces" in message
    assert f"{victim.source}: its forces label(s) are NaN/inf" in message and "bad frame" in message
    assert "correct or remove that frame" in message
    assert f"{out / 'checkpoint.pt'} (end of epoch 1)" in message and "--resume" in message

    # the files are those of epoch 1: nothing half-written, no temporary files left
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 1 and len(checkpoint["rows"]) == 1
    assert all(bool(torch.isfinite(v).all()) for v in checkpoint["model"].values() if v.is_floating_point())
    assert len(list(csv.DictReader(open(out / "metrics.csv")))) == 1
    best = mlip.load_potential(out / "best.pt")
    assert best.info["best_epoch"] == 1
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]

    # fixed data (the file never had the NaN): resume from epoch 1 and finish
    train(cfg, resume=True)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert len(list(csv.DictReader(open(out / "metrics.csv")))) == 2


def test_divergence_from_a_huge_learning_rate_blames_the_learning_rate(emt_file, tmp_path):
    cfg = TrainConfig.from_dict(tiny_config(emt_file, tmp_path / "run", epochs=2, lr=1e30))
    with pytest.raises(TrainingError) as info:
        train(cfg)
    message = str(info.value)
    assert "at epoch 1, batch " in message and "non-finite" in message
    assert "training.lr = 1e+30 is too high" in message and "lower training.lr (e.g. to 1e+29)" in message
    assert "no checkpoint or best model exists yet" in message
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "best.pt").exists()


def test_a_non_finite_gradient_with_a_finite_loss_stops_before_the_optimiser_step(emt_file, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig.from_dict(tiny_config(emt_file, out, epochs=2, clip_grad_norm=None))
    data = prepare_data(cfg)
    trainer = Trainer(cfg, data, initial_potential(cfg, data), out)
    name, param = next((n, p) for n, p in trainer.pot.named_parameters() if p.requires_grad)

    def poison_gradients_after_epoch_1(row):
        if row["epoch"] == 1:
            param.register_hook(lambda g: g * float("inf"))

    with pytest.raises(TrainingError, match=r"non-finite gradient at epoch 2, batch 1/\d+ \(the loss, [0-9.e+-]+, "
                                            r"is finite") as info:
        trainer.run(progress=poison_gradients_after_epoch_1)
    message = str(info.value)
    assert "the optimiser step was not taken" in message and "training.lr = 0.01 is too high" in message
    assert bool(torch.isfinite(param).all()), f"{name} was updated with the non-finite gradient"
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
