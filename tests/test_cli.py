"""The `rftgym` command as a user runs it: real processes, real HTTP, kill -9 and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from conftest import default_sigint, read_lines

from rftgym.agents.testing import ScriptedServer

MATH = "rftgym/MathTools-v0"


def rftgym(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rftgym", *args], capture_output=True, text=True, timeout=120, **kwargs
    )


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rftgym", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def wait_for_lines(path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


def slow(responder, seconds: float):
    def respond(request):
        time.sleep(seconds)
        return responder(request)

    return respond


def test_envs_lists_math():
    result = rftgym("envs")
    assert result.returncode == 0 and MATH in result.stdout and "arithmetic" in result.stdout


def test_rollout_oracle_prints_table(tmp_path):
    out = tmp_path / "o.jsonl"
    result = rftgym(
        "rollout",
        MATH,
        "--policy",
        "oracle",
        "--num-tasks",
        "4",
        "--group-size",
        "2",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert "pass@1" in result.stdout and str(out) in result.stderr
    assert len(read_lines(out)) == 8


def test_requests_carry_no_sampling_seed_so_a_group_can_differ(tmp_path, math_oracle):
    seeds = []

    def respond(request: dict) -> dict:
        seeds.append(request.get("seed"))
        return math_oracle(request)

    with ScriptedServer(respond=respond) as server:
        args = ["rollout", MATH, "--base-url", server.base_url, "--model", "scripted", "--num-tasks", "2"]
        result = rftgym(*args, "--group-size", "2", "--seed", "7", "--out", str(tmp_path / "s.jsonl"))
    assert result.returncode == 0, result.stderr
    assert seeds and seeds == [None] * len(seeds)


def test_kill_9_then_resume_gives_every_episode_exactly_once(tmp_path, math_oracle):
    out = tmp_path / "killed.jsonl"
    with ScriptedServer(respond=slow(math_oracle, 0.01)) as server:
        args = [
            "rollout",
            MATH,
            "--base-url",
            server.base_url,
            "--model",
            "scripted",
            "--num-tasks",
            "30",
            "--group-size",
            "2",
            "--concurrency",
            "4",
            "--out",
            str(out),
            "--no-progress",
        ]
        proc = start(*args)
        wait_for_lines(out, 5, proc)
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait()
        killed_at = len(read_lines(out))
        assert 5 <= killed_at < 60
        result = rftgym(*args, "--resume")
    assert result.returncode == 0, result.stderr
    lines = read_lines(out)
    counts = Counter(l["id"] for l in lines)
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert all(l["error"] is None and l["reward"] == 1.0 for l in lines)


def test_ctrl_c_stops_cleanly_and_keeps_finished_episodes(tmp_path, math_oracle):
    out = tmp_path / "interrupted.jsonl"
    with ScriptedServer(respond=slow(math_oracle, 0.01)) as server:
        args = [
            "rollout",
            MATH,
            "--base-url",
            server.base_url,
            "--model",
            "scripted",
            "--num-tasks",
            "30",
            "--group-size",
            "2",
            "--concurrency",
            "4",
            "--out",
            str(out),
            "--no-progress",
        ]
        proc = start(*args)
        wait_for_lines(out, 3, proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "--resume" in stderr
        kept = read_lines(out)
        assert 3 <= len(kept) < 60
        assert rftgym(*args, "--resume").returncode == 0
    assert len({l["id"] for l in read_lines(out)}) == len(read_lines(out)) == 60


def test_unreachable_endpoint_is_one_clear_line(tmp_path):
    result = rftgym(
        "rollout",
        MATH,
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--out",
        str(tmp_path / "x.jsonl"),
        "--timeout",
        "2",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "127.0.0.1:9" in result.stderr


def test_unknown_env_is_one_clear_line():
    result = rftgym("rollout", "rftgym/Nope-v0", "--policy", "oracle")
    assert result.returncode == 2 and "unknown env" in result.stderr and "rftgym/MathTools-v0" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_files_name_file_and_line(tmp_path):
    good = tmp_path / "good.jsonl"
    assert (
        rftgym(
            "rollout", MATH, "--policy", "oracle", "--num-tasks", "3", "--out", str(good), "--no-progress"
        ).returncode
        == 0
    )
    lines = good.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n" + "{not json\n" + lines[1] + "\n" + lines[2][: len(lines[2]) // 2])
    result = rftgym("validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2:" in result.stdout and f"{bad}:4:" in result.stdout
    result = rftgym("stats", str(bad))
    assert result.returncode == 2 and f"{bad}:2:" in result.stderr and "Traceback" not in result.stderr
    result = rftgym("stats", str(good), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["episodes"] == 3
    assert [row["task_id"] for row in json.loads(result.stdout)["per_task"]] == [
        l["task_id"] for l in map(json.loads, lines)
    ]
    result = rftgym("stats", str(good), "--per-task")
    assert result.returncode == 0 and all(json.loads(l)["task_id"] in result.stdout for l in lines)
    assert rftgym("stats", str(tmp_path / "missing.jsonl")).returncode == 2


def test_env_arg_reaches_gymnasium_make(tmp_path):
    out = tmp_path / "e.jsonl"
    result = rftgym(
        "rollout",
        MATH,
        "--policy",
        "noop",
        "--env-arg",
        "max_turns=1",
        "--num-tasks",
        "2",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert all(len(l["turns"]) == 1 for l in read_lines(out))
    other = tmp_path / "e2.jsonl"  # a new file: an existing --out is refused before the env is made
    result = rftgym("rollout", MATH, "--policy", "noop", "--env-arg", "no_such_arg=1", "--out", str(other))
    assert result.returncode == 2 and "no_such_arg" in result.stderr and "Traceback" not in result.stderr


def test_examples_run(tmp_path, math_oracle):
    root = os.path.dirname(os.path.dirname(__file__))
    env = {**os.environ, "PYTHONPATH": root}
    result = subprocess.run(
        [sys.executable, "examples/custom_env.py", "--out", str(tmp_path / "u.jsonl")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "mean reward 1.000" in result.stdout
    with ScriptedServer(respond=math_oracle) as server:
        result = subprocess.run(
            [
                sys.executable,
                "examples/rollout_local_endpoint.py",
                "--base-url",
                server.base_url,
                "--model",
                "scripted",
                "--out",
                str(tmp_path / "l.jsonl"),
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert result.returncode == 0, result.stderr
    assert "wrote 32 episodes (0 with errors)" in result.stdout
