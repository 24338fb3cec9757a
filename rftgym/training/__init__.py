"""Training on trajectory files: tensors for any training script, advantage estimators, the GRPO
trainer and its metrics. Needs the ``train`` extra (torch, transformers, matplotlib).

For a script of your own, :func:`trajectories_to_tensors` is all you need (see
``examples/train_from_files.py``).
"""

from rftgym.training.advantages import ADVANTAGES, AdvantageOptions, register_advantage
from rftgym.training.data import Drift, Episode, TrainingBatch, trajectories_to_tensors
from rftgym.training.metrics import MetricsLog, plot_metrics, read_metrics
from rftgym.training.trainer import GRPOTrainer, TrainConfig

__all__ = [
    "ADVANTAGES",
    "AdvantageOptions",
    "Drift",
    "Episode",
    "GRPOTrainer",
    "MetricsLog",
    "TrainConfig",
    "TrainingBatch",
    "plot_metrics",
    "read_metrics",
    "register_advantage",
    "trajectories_to_tensors",
]
