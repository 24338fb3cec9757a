"""``rftgym train --log-to``: the trainer's metrics, read back with each tracker's own reader
(TensorBoard's EventAccumulator, MLflow's client, W&B's ``wandb leet inspect``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tiny_model import tiny_model_path

from rftgym.cli import main
from rftgym.trajectories import Trajectory, Turn

pytest.importorskip("torch")


def _batch():
    from transformers import AutoTokenizer

    from rftgym.training import trajectories_to_tensors

    episodes = [
        Trajectory(
            id=f"e{i}",
            run_id="r",
            env_id="e",
            task_id=f"g{i % 2}",
            group_id=f"g{i % 2}",
            sample_index=i // 2,
            messages=[
                {"role": "system", "content": "You add numbers."},
                {"role": "user", "content": "Go " * (i + 1)},
                {"role": "assistant", "content": "ok " * (2 * i + 1)},
            ],
            turns=[Turn(message_index=2)],
            reward=float(i % 3),
            outcome_reward=float(i % 3),
        )
        for i in range(8)
    ]
    return trajectories_to_tensors(episodes, AutoTokenizer.from_pretrained(tiny_model_path()))


def test_trainer_metrics_read_back_from_tensorboard_and_mlflow(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rftgym.training import GRPOTrainer, TrainConfig, read_metrics
    from rftgym.training.trackers import mlflow_name

    config = TrainConfig(
        model=str(tiny_model_path()),
        output_dir=tmp_path,
        batch_size=4,
        micro_batch_size=4,
        log_to=("tensorboard", "mlflow"),
    )
    trainer = GRPOTrainer(config)
    trainer.fit(_batch())
    lines = read_metrics(trainer.metrics.path)
    assert [line["step"] for line in lines] == [1, 2]
    names = sorted({k for line in lines for k in line} - {"step"})
    assert "critic/rewards/mean" in names and "actor/entropy" in names
    del trainer  # closes the trackers (the MLflow run ends FINISHED)

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(names)
    for name in names:
        logged = [(e.step, e.value) for e in events.Scalars(name)]
        assert logged == [(line["step"], pytest.approx(line[name], rel=1e-6)) for line in lines if name in line]
    (config_text,) = events.Tensors("config/text_summary")
    assert f'"learning_rate": "{config.learning_rate}"'.encode() in config_text.tensor_proto.string_val[0]

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("rftgym").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["learning_rate"] == str(config.learning_rate)
    assert set(run.data.metrics) == {mlflow_name(n) for n in names}
    for name in names:
        history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, mlflow_name(name))]
        assert history == [(line["step"], pytest.approx(line[name])) for line in lines if name in line]


def test_trainer_metrics_read_back_from_an_offline_wandb_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from rftgym.training import GRPOTrainer, TrainConfig, read_metrics

    monkeypatch.setenv("WANDB_MODE", "offline")
    config = TrainConfig(
        model=str(tiny_model_path()), output_dir=tmp_path, batch_size=4, micro_batch_size=4, log_to=("wandb",)
    )
    trainer = GRPOTrainer(config)
    trainer.fit(_batch())
    lines = read_metrics(trainer.metrics.path)
    del trainer  # closes the tracker (the run finishes)

    # W&B's own reader of the run's .wandb transaction log (wandb-core behind `wandb leet inspect`).
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    assert len(list(run_dir.glob("run-*.wandb"))) == 1
    records = [json.loads(line) for line in _wandb_inspect(run_dir, "--json").splitlines()]
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    assert run["project"] == "rftgym" and run["display_name"] == tmp_path.name
    assert run["config"]["update"]["learning_rate"] == str(config.learning_rate)
    history = [r["history"] for r in records if r["type"] == "history"]
    assert [h["step"]["num"] for h in history] == [line["step"] for line in lines]
    for logged, line in zip(history, lines, strict=True):
        metrics = {k: v for k, v in logged["item"].items() if not k.startswith("_")}
        assert metrics == {k: pytest.approx(v) for k, v in line.items() if k != "step"}
    summary = json.loads(_wandb_inspect(run_dir, "--summary", "--json"))
    assert summary["state"] == "finished" and summary["step"] == lines[-1]["step"]


def _wandb_inspect(run_dir, *flags: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", *flags, str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_mlflow_names_keep_the_metric_names_except_the_at_sign():
    from rftgym.training.trackers import mlflow_name

    assert mlflow_name("critic/rewards/mean") == "critic/rewards/mean"
    assert mlflow_name("val-score/rewards/mean@1") == "val-score/rewards/mean_at_1"


def test_an_unknown_tracker_is_a_user_error(tmp_path, capsys):
    assert main(["train", "--online", "rftgym/MathTools-v0", "--log-to", "tensorboard,comet"]) == 2
    assert "unknown tracker 'comet'" in capsys.readouterr().err
