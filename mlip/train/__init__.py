"""Training: strict config, loss, trainer with EMA/schedules/checkpoints, committees, fine-tuning."""
from mlip.train.config import DataConfig, TrainConfig, TrainingConfig
from mlip.train.loss import Loss, LossConfig
from mlip.train.metrics import evaluate
from mlip.train.run import assemble_committee, train

__all__ = ["DataConfig", "Loss", "LossConfig", "TrainConfig", "TrainingConfig", "assemble_committee", "evaluate", "train"]
