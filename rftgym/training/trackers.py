"""Experiment trackers: the metrics of ``metrics.jsonl`` also written to TensorBoard, MLflow or
Weights & Biases (``rftgym train --log-to tensorboard,mlflow,wandb``), under the same names, with
the run's configuration.

Each tracker writes into the run's output folder and needs no server:

* ``tensorboard``: event files in ``<output_dir>/tensorboard`` (``tensorboard --logdir``); the
  config as the text summary ``config``. Needs the ``tensorboard`` extra.
* ``mlflow``: a local file store in ``<output_dir>/mlruns`` (``mlflow ui --backend-store-uri``),
  experiment ``rftgym``, the config as params. MLflow names allow no ``@``: ``mean@1`` is logged as
  ``mean_at_1`` (as the PNG plots name it). Needs the ``mlflow`` extra. MLflow 3 keeps file stores
  in maintenance mode and refuses them unless ``MLFLOW_ALLOW_FILE_STORE`` is set, so opening one
  sets it (a user who set it keeps their value).
* ``wandb``: an offline run in ``<output_dir>/wandb/offline-run-*`` (``wandb sync`` uploads it
  later; ``wandb leet inspect --json`` prints its records), project ``rftgym``, the config as the
  run's config. Needs the ``wandb`` extra.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Protocol

TRACKERS = ("tensorboard", "mlflow", "wandb")


class Tracker(Protocol):
    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


def parse_log_to(text: str) -> tuple[str, ...]:
    """``"tensorboard,mlflow"`` -> ``("tensorboard", "mlflow")``; ValueError naming an unknown one."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0]!r}; known: {', '.join(TRACKERS)}")
    return names


def open_trackers(names: tuple[str, ...], output_dir: Path, config: Any = None) -> list[Tracker]:
    """One open tracker per name, each writing under ``output_dir``; ``config`` (a dataclass or a
    dict) is recorded with the run. ImportError, naming the extra to install, when one is missing."""
    settings = _flat_config(config)
    opened: list[Tracker] = []
    for name in names:
        opened.append(_OPENERS[name](Path(output_dir), settings))
    return opened


def _flat_config(config: Any) -> dict[str, str]:
    data = asdict(config) if is_dataclass(config) and not isinstance(config, type) else dict(config or {})
    return {k: str(v) for k, v in data.items()}


class TensorBoardTracker:
    def __init__(self, output_dir: Path, config: dict[str, str]):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                f"--log-to tensorboard needs the tensorboard extra (pip install 'rftgym[tensorboard]'): {e}"
            ) from None
        self.writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2) + "\n```")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()  # a crashed run keeps its curves

    def close(self) -> None:
        self.writer.close()


def mlflow_name(name: str) -> str:
    """The MLflow name of a metric: ``@`` -> ``_at_``, any other character MLflow refuses -> ``_``."""
    return re.sub(r"[^\w\-. :/]", "_", name.replace("@", "_at_"))


class MLflowTracker:
    def __init__(self, output_dir: Path, config: dict[str, str]):
        try:
            from mlflow.entities import Param
            from mlflow.tracking import MlflowClient
        except ImportError as e:
            raise ImportError(f"--log-to mlflow needs the mlflow extra (pip install 'rftgym[mlflow]'): {e}") from None
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=(output_dir / "mlruns").resolve().as_uri())
        experiment = self.client.get_experiment_by_name("rftgym")
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment("rftgym")
        self.run_id = self.client.create_run(experiment_id, run_name=output_dir.resolve().name).info.run_id
        params = [Param(k, v[:6000]) for k, v in config.items()]  # MLflow's limit on a param's length
        self.client.log_batch(self.run_id, params=params)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(mlflow_name(k), float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbTracker:
    def __init__(self, output_dir: Path, config: dict[str, str]):
        try:
            import wandb
        except ImportError as e:
            raise ImportError(f"--log-to wandb needs the wandb extra (pip install 'rftgym[wandb]'): {e}") from None
        # Offline whatever WANDB_MODE says; silent and without console capture, so the run's own
        # terminal output (the progress bar) stays as it is. Weave traces LLM calls, not training:
        # off unless the user turned it on (it otherwise suggests itself when openai is imported).
        os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
        settings = wandb.Settings(silent=True, console="off")
        self.run = wandb.init(
            mode="offline",
            dir=str(output_dir),
            project="rftgym",
            name=output_dir.resolve().name,
            config=config,
            settings=settings,
        )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


_OPENERS: dict[str, Any] = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker, "wandb": WandbTracker}
