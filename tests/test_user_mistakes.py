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


def test_the_same_rejection_again_and_again_stops_the_run(tmp_path):
    """Every chat request answered 400 (a model name the preflight let through, a field the
    endpoint refuses): the run stops after 8 such episodes in a row, with the reason."""
    out = tmp_path / "o.jsonl"
    with ScriptedServer(faults={"400": 1.0}) as server:
        result = run(
            "rollout", MATH, "--base-url", server.base_url, "--model", "scripted", "--out", str(out),
            "--num-tasks", "5", "--group-size", "8", "--concurrency", "2", "--no-progress",
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "stopped after 8 episodes in a row failed with the same answer" in last
    assert "PolicyError" in last and "HTTP 400: scripted fault: HTTP 400" in last
    written = lines(out)
    assert 8 <= len(written) <= 9 < 40  # the episodes in flight (concurrency 2) finish; no new one starts
    assert all(line["error"]["type"] == "PolicyError" for line in written)


def test_rollout_inside_a_running_event_loop_says_to_await_arollout(tmp_path):
    import asyncio

    async def notebook_cell() -> None:
        rftgym.rollout(MATH, rftgym.NoopPolicy(), tmp_path / "o.jsonl", num_tasks=1, progress=False)

    with pytest.raises(RuntimeError, match=r"await rftgym\.arollout\(\.\.\.\)"):
        asyncio.run(notebook_cell())
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["rollout", MATH, "--policy", "oracle", "--num-tasks", "1", "--out", "{dir}"],
        ["export", "--env", MATH, "--format", "bedrock-rft", "--out", "{dir}"],
        ["stats", "{dir}"],
        ["validate", "{dir}"],
        ["rescore", "{dir}", "--out", "{tmp}/new.jsonl"],
    ],
)
def test_a_folder_where_a_file_is_expected_is_one_line(tmp_path, args):
    folder = tmp_path / "a folder"
    folder.mkdir()
    result = run(*(a.format(dir=folder, tmp=tmp_path) for a in args))
    assert result.returncode == 2
    assert f"{folder} is a folder, not a" in one_line(result)
    assert list(folder.iterdir()) == [] and not (tmp_path / "new.jsonl").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["rollout", MATH, "--policy", "oracle", "--num-tasks", "1", "--out", "/proc/rftgym-x.jsonl"],
        ["rollout", MATH, "--policy", "oracle", "--num-tasks", "1", "--out", "/proc/rftgym-x/o.jsonl"],
        ["export", "--env", MATH, "--format", "bedrock-rft", "--out", "/proc/rftgym-x.jsonl"],
        ["rescore", "{file}", "--out", "/proc/rftgym-x.jsonl"],
    ],
)
def test_an_output_that_cannot_be_created_is_one_line(tmp_path, args):
    """/proc refuses new files even to root (a chmod'ed folder would not stop root)."""
    source = tmp_path / "o.jsonl"
    assert oracle(source, "--num-tasks", "1").returncode == 0
    result = run(*(a.format(file=source) for a in args))
    assert result.returncode == 2
    assert "cannot write /proc/rftgym-x" in one_line(result)


@pytest.mark.parametrize(
    "args",
    [
        ["rollout", "CartPole-v1", "--policy", "oracle"],
        ["rollout", "CartPole-v1", "--policy", "noop"],
        ["envs", "lint", "CartPole-v1"],
        ["export", "--env", "CartPole-v1", "--format", "bedrock-rft"],
    ],
)
def test_a_gymnasium_env_that_is_not_a_chat_env_is_one_line(tmp_path, args):
    out = tmp_path / "o.jsonl"
    result = run(*args, "--out", str(out)) if args[0] != "envs" else run(*args)
    assert result.returncode == 2
    assert "CartPole-v1 is a CartPoleEnv, not an rftgym ChatEnv" in one_line(result)
    assert not out.exists()


def test_train_online_refuses_a_gymnasium_env_that_is_not_a_chat_env(tmp_path):
    pytest.importorskip("torch")
    result = run("train", "--online", "CartPole-v1", "--output-dir", str(tmp_path / "train"))
    assert result.returncode == 2
    assert "CartPole-v1 is a CartPoleEnv, not an rftgym ChatEnv" in one_line(result)
    assert not (tmp_path / "train").exists()


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path):
    """`rftgym stats --json f | head -c 10`: here the reader has left before the first byte."""
    out = tmp_path / "o.jsonl"
    assert oracle(out, "--num-tasks", "20").returncode == 0
    for args in (["stats", "--json", str(out)], ["stats", str(out), "--per-task"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "rftgym", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 1
        assert "BrokenPipeError" not in stderr and "Traceback" not in stderr and "Exception" not in stderr
    shell = subprocess.run(
        f"{sys.executable} -m rftgym stats --json {out} | head -c 10", shell=True, capture_output=True, text=True
    )
    assert shell.stdout == '{\n  "episo' and shell.stderr == ""


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("/nonexistent/model", "no model folder /nonexistent/model (a local path: the hub was not asked)"),
        ("nosuchorg/nosuchmodel", "no local folder 'nosuchorg/nosuchmodel', and the Hugging Face hub could not"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "train"])
def test_a_model_that_is_nowhere_is_one_line(tmp_path, monkeypatch, command, model, words):
    pytest.importorskip("torch")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub cannot be reached here: say so at once
    data = tmp_path / "o.jsonl"
    assert oracle(data, "--num-tasks", "1").returncode == 0
    args = ["serve", "--model", model, "--port", "0"] if command == "serve" else ["train", str(data), "--model", model]
    result = run(*args, "--output-dir", str(tmp_path / "train")) if command == "train" else run(*args)
    assert result.returncode == 2
    assert words in one_line(result)
    assert not (tmp_path / "train").exists()


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_a_disk_that_fills_up_during_the_run_is_one_line():
    """/dev/full opens fine and answers every write with ENOSPC, like a disk that just filled up."""
    result = run("rollout", MATH, "--policy", "oracle", "--num-tasks", "2", "--no-progress", "--out", "/dev/full")
    assert result.returncode == 1
    assert "No space left on device" in one_line(result)


def test_models_answer_that_is_not_json_fails_fast(tmp_path):
    from aiohttp import web

    class HtmlModels(ScriptedServer):
        async def _models(self, request: web.Request) -> web.Response:
            return web.Response(text="<html>a login page</html>", content_type="text/html")

    out = tmp_path / "o.jsonl"
    with HtmlModels() as server:
        result = run("rollout", MATH, "--base-url", server.base_url, "--model", "scripted", "--out", str(out))
        assert server.requests == 0  # no episode was played
    assert result.returncode == 2
    assert 'GET /models did not answer JSON with a "data" list' in one_line(result)
    assert not out.exists()


def test_a_20_percent_faulty_endpoint_still_finishes_with_exit_0(tmp_path, math_oracle):
    """429s, 500s, dropped connections and garbage bodies are retried; they never stop a run."""
    out = tmp_path / "o.jsonl"
    faults = {kind: 0.05 for kind in ("429", "500", "drop", "garbage")}
    with ScriptedServer(respond=math_oracle, faults=faults, seed=3) as server:
        result = run(
            "rollout", MATH, "--base-url", server.base_url, "--model", "scripted", "--out", str(out),
            "--num-tasks", "12", "--group-size", "2", "--no-progress",
        )  # fmt: skip
        assert sum(server.fault_counts.values()) > 5
    assert result.returncode == 0, result.stderr
    written = lines(out)
    assert len(written) == 24 and len({line["id"] for line in written}) == 24
    assert "stopped" not in result.stderr and "error:" not in result.stderr
