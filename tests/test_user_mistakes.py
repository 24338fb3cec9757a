"""Mistakes a user makes with the CLI and the rollout API: one line, the right exit code, and the
output file's bytes untouched unless the user asked for them to change."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rftgym
from rftgym.agents.testing import ScriptedServer

MATH = "rftgym/MathTools-v0"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rftgym", *args], capture_output=True, text=True, timeout=120)


def oracle(out, *extra: str) -> subprocess.CompletedProcess:
    return run("rollout", MATH, "--policy", "oracle", "--out", str(out), "--no-progress", *extra)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_existing_out_is_refused_then_overwritten_with_force(tmp_path):
    out = tmp_path / "o.jsonl"
    assert oracle(out, "--num-tasks", "2").returncode == 0
    before = out.read_bytes()
    result = oracle(out, "--num-tasks", "3")
    assert result.returncode == 2
    assert "already exists" in one_line(result) and "--force" in result.stderr
    assert out.read_bytes() == before
    result = oracle(out, "--num-tasks", "3", "--force")
    assert result.returncode == 0, result.stderr
    assert len(lines(out)) == 3  # overwritten, not appended


def test_non_trajectory_file_is_never_appended_to(tmp_path):
    out = tmp_path / "notes.jsonl"
    out.write_bytes(b'{"hello": "world"}\n')
    for extra in (["--resume"], ["--resume", "--force"]):
        result = oracle(out, "--num-tasks", "1", *extra)
        assert result.returncode == 2
        assert "not a trajectory file" in one_line(result)
        assert out.read_bytes() == b'{"hello": "world"}\n'


def test_resume_with_another_model_is_refused_unless_force(tmp_path):
    out = tmp_path / "o.jsonl"
    assert oracle(out, "--num-tasks", "1").returncode == 0
    before = out.read_bytes()
    args = ["rollout", MATH, "--policy", "noop", "--out", str(out), "--no-progress", "--num-tasks", "2", "--resume"]
    result = run(*args)
    assert result.returncode == 2
    assert "another model (oracle, not noop)" in one_line(result)
    assert out.read_bytes() == before
    result = run(*args, "--force")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(before) and len(lines(out)) == 2


def test_resume_replays_failed_episodes_and_stats_count_the_last_line(tmp_path):
    out = tmp_path / "o.jsonl"
    assert oracle(out, "--num-tasks", "3").returncode == 0
    records = lines(out)
    records[1]["error"] = {"type": "PolicyError", "message": "endpoint down"}
    records[1]["termination_reason"] = "error"
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    before = out.read_bytes()

    result = oracle(out, "--num-tasks", "3", "--resume")
    assert result.returncode == 0, result.stderr
    assert "1 episodes written, 2 already there, 0 with errors" in result.stderr
    assert "1 / 1" in result.stdout  # the table covers this run's episode only
    assert out.read_bytes().startswith(before)  # append-only
    after = lines(out)
    assert len(after) == 4 and after[-1]["id"] == records[1]["id"] and after[-1]["error"] is None

    stats = run("stats", str(out), "--json")
    summary = json.loads(stats.stdout)
    assert summary["episodes"] == 3 and summary["error_rate"] == 0.0
    assert run("validate", str(out)).returncode == 0
    replayed = out.read_bytes()
    again = oracle(out, "--num-tasks", "3", "--resume")
    assert "0 episodes written, 3 already there" in again.stderr and out.read_bytes() == replayed


def test_model_the_endpoint_does_not_serve_fails_fast(tmp_path):
    out = tmp_path / "o.jsonl"
    with ScriptedServer() as server:
        result = run("rollout", MATH, "--base-url", server.base_url, "--model", "gpt-9", "--out", str(out))
    assert result.returncode == 2
    line = one_line(result)
    assert "does not serve model 'gpt-9'" in line and "'scripted'" in line
    assert not out.exists()


def test_run_where_every_episode_failed_exits_1(tmp_path):
    out = tmp_path / "o.jsonl"
    result = oracle(out, "--num-tasks", "2", "--turn-timeout", "0.000001")
    assert result.returncode == 1
    assert "every episode failed; the first: EpisodeTimeout" in result.stderr.strip().splitlines()[-1]
    assert len(lines(out)) == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["rollout", MATH, "--policy", "oracle", "--group-size", "0"], "--group-size must be at least 1, got 0"),
        (["rollout", MATH, "--policy", "oracle", "--concurrency", "0"], "--concurrency must be at least 1, got 0"),
        (["rollout", MATH, "--policy", "oracle", "--num-tasks", "-3"], "--num-tasks must be at least 1, got -3"),
        (["rollout", MATH, "--policy", "oracle", "--max-turns", "0"], "--max-turns must be at least 1, got 0"),
        (["rollout", MATH, "--policy", "oracle", "--timeout", "0"], "--timeout must be more than 0 seconds, got 0.0"),
        (["rollout", MATH, "--policy", "oracle", "--turn-timeout", "-1"], "--turn-timeout must be more than 0"),
        (["rollout", MATH, "--policy", "oracle", "--episode-timeout", "nan"], "--episode-timeout must be a finite"),
        (["export", "--env", MATH, "--format", "bedrock-rft", "--num-tasks", "0"], "--num-tasks must be at least 1"),
        (["train", "x.jsonl", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["train", "x.jsonl", "--micro-batch-size", "0"], "--micro-batch-size must be at least 1, got 0"),
        (["train", "x.jsonl", "--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["train", "x.jsonl", "--lora-rank", "-1"], "--lora-rank must be at least 0, got -1"),
        (["train", "--online", MATH, "--steps", "0"], "--steps must be at least 1, got 0"),
        (["serve", "--port", "70000"], "--port must be between 0 and 65535, got 70000"),
    ],
)
def test_numbers_out_of_range_are_one_line(tmp_path, args, words):
    out = tmp_path / "o.jsonl"
    result = run(*args, "--out", str(out)) if args[0] in ("rollout", "export") else run(*args)
    assert result.returncode == 2
    assert words in one_line(result)
    assert not out.exists()


def test_export_refuses_existing_out_unless_force(tmp_path):
    out = tmp_path / "data.jsonl"
    out.write_bytes(b"keep me\n")
    args = ["export", "--env", MATH, "--format", "bedrock-rft", "--num-tasks", "2", "--out", str(out)]
    result = run(*args)
    assert result.returncode == 2 and "already exists" in one_line(result)
    assert out.read_bytes() == b"keep me\n"
    assert run(*args, "--force").returncode == 0
    assert len(out.read_text().splitlines()) == 2


def test_api_refuses_with_the_same_words(tmp_path):
    out = tmp_path / "o.jsonl"
    policy = rftgym.NoopPolicy()
    for kwargs, words in (
        ({"group_size": 0}, "group_size must be at least 1, got 0"),
        ({"concurrency": 0}, "concurrency must be at least 1, got 0"),
        ({"num_tasks": 0}, "num_tasks must be at least 1, got 0"),
        ({"turn_timeout": 0}, "turn_timeout must be more than 0 seconds"),
        ({"episode_timeout": -1}, "episode_timeout must be more than 0 seconds"),
    ):
        with pytest.raises(ValueError, match=words):
            rftgym.rollout(MATH, policy, out, progress=False, **kwargs)
    assert not out.exists()
    rftgym.rollout(MATH, policy, out, num_tasks=1, progress=False)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="already exists and is not empty; --resume continues it"):
        rftgym.rollout(MATH, policy, out, num_tasks=1, progress=False)
    assert out.read_bytes() == before
    rftgym.rollout(MATH, policy, out, num_tasks=2, resume=True, progress=False)  # resume=True as before
    assert out.read_bytes().startswith(before) and len(lines(out)) == 2
