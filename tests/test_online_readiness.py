"""`rftgym train --online` runs Step 0 (the readiness check of `rftgym baseline`) before its first step."""

from __future__ import annotations

import json

import pytest
from tiny_model import tiny_model_path

import rftgym.baseline
from rftgym.cli import main
from rftgym.training import TrainConfig
from rftgym.training.online import OnlineConfig, train_online

pytest.importorskip("torch")

ONLINE = ["--steps", "1", "--tasks-per-step", "2", "--group-size", "2", "--max-tokens", "8", "--val-every", "0"]


def command(tmp_path, *extra):
    return [
        "train", "--online", "rftgym/Letters-v0", "--model", str(tiny_model_path()), "--batch-size", "4",
        "--lr", "1e-3", "--no-progress", "--output-dir", str(tmp_path / "run"), "--readiness-tasks", "2",
        *ONLINE, *extra,
    ]  # fmt: skip


def test_the_loop_checks_readiness_through_its_own_endpoint_before_the_first_step(tmp_path):
    online = OnlineConfig(
        "rftgym/Letters-v0", steps=1, tasks_per_step=2, group_size=2, max_tokens=8, val_every=0, readiness_tasks=3
    )
    config = TrainConfig(model=str(tiny_model_path()), output_dir=tmp_path / "run", batch_size=4, learning_rate=1e-3)
    seen = []
    train_online(online, config, on_readiness=seen.append)
    [report] = seen
    assert (report.env_id, report.tasks, report.k, report.episodes + report.errors) == ("rftgym/Letters-v0", 3, 2, 6)
    assert report.verdict in rftgym.baseline.VERDICTS
    assert json.loads((tmp_path / "run" / "readiness.json").read_text())["verdict"] == report.verdict
    episodes = [json.loads(line) for line in (tmp_path / "run" / "readiness.jsonl").read_text().splitlines()]
    assert len(episodes) == 6 and {e["policy"]["model"] for e in episodes} == {"policy"}  # the loop's endpoint
    assert (tmp_path / "run" / "checkpoints" / "step-000001").is_dir()

    seen.clear()  # a resumed run has passed Step 0 already
    online.steps = 2
    train_online(online, config, resume=True, on_readiness=seen.append)
    assert seen == []


@pytest.fixture
def not_ready(monkeypatch):
    """Every readiness verdict reads too hard (the tiny model's own verdict is not fixed)."""
    monkeypatch.setattr(rftgym.baseline, "_verdict", lambda report, *_: ("too hard", "scripted for the test"))


def test_a_verdict_other_than_ready_warns_and_trains(tmp_path, capsys, not_ready):
    assert main(command(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "warning: readiness: TOO HARD: scripted for the test; training anyway" in err
    assert "pass@1" in err and "done:" in err
    assert (tmp_path / "run" / "checkpoints" / "step-000001").is_dir()


def test_require_ready_stops_before_the_first_step_with_one_line(tmp_path, capsys, not_ready):
    assert main(command(tmp_path, "--require-ready")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: readiness: TOO HARD: scripted for the test; --require-ready stops here "
        f"(report: {tmp_path / 'run'}/readiness.json)"
    ]
    assert not (tmp_path / "run" / "checkpoints" / "step-000001").exists()


def test_skip_readiness_plays_no_readiness_episode(tmp_path, capsys, not_ready):
    assert main(command(tmp_path, "--skip-readiness", "--require-ready")) == 0
    assert "readiness:" not in capsys.readouterr().err
    assert not (tmp_path / "run" / "readiness.jsonl").exists()
