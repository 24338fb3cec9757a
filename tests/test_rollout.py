"""The rollout loop over real HTTP: groups, faults, env failures, time limits."""

from __future__ import annotations

from collections import Counter

import gymnasium
import pytest
from conftest import OracleResponder, oracle_policy, read_lines

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.envs import ChatEnv, register_env, tool
from rftgym.rewards import Rubric
from rftgym.trajectories import read_trajectories, summarize
from rftgym.types import Task

MATH = "rftgym/MathTools-v0"


def test_full_rollout_with_groups_over_http(tmp_path, math_oracle):
    out = tmp_path / "run.jsonl"
    with ScriptedServer(respond=math_oracle) as server:
        policy = rftgym.ChatPolicy(server.base_url, "scripted", timeout=10)
        result = rftgym.rollout(MATH, policy, out, num_tasks=6, group_size=3, concurrency=4, progress=False)
    lines = read_lines(out)
    assert result.written == 18 and result.errors == 0 and len(lines) == 18
    assert len({l["id"] for l in lines}) == 18
    groups = Counter(l["group_id"] for l in lines)
    assert len(groups) == 6 and set(groups.values()) == {3}
    assert {l["sample_index"] for l in lines} == {0, 1, 2}
    for line in lines:
        assert line["schema"] == "rftgym.trajectory/1" and line["error"] is None
        assert line["terminated"] and line["termination_reason"] == "submitted"
        assert line["reward"] == pytest.approx(1.0) and line["outcome_components"]["answer_correct"] == 1.0
        assert line["policy"]["base_url"] == server.base_url and line["policy"]["model"] == "scripted"
        assert line["tools"] and line["messages"][0]["role"] == "system"
        for turn in line["turns"]:
            assert line["messages"][turn["message_index"]]["role"] == "assistant"
            assert turn["completion_token_ids"] and len(turn["logprobs"]) == len(turn["completion_token_ids"])
            assert turn["usage"]["completion_tokens"] > 0 and "invalid_tool_calls" in turn["reward_components"]
    summary = summarize(read_trajectories(out))
    assert summary["episodes"] == 18 and summary["tasks"] == 6


def test_fault_injecting_endpoint_loses_and_duplicates_nothing(tmp_path, math_oracle):
    """20% of requests fail (429, 500, dropped connection, past-deadline, garbage body)."""
    out = tmp_path / "faults.jsonl"
    faults = {kind: 0.04 for kind in ("429", "500", "drop", "slow", "garbage")}
    with ScriptedServer(respond=math_oracle, faults=faults, seed=3, slow_seconds=5) as server:
        policy = rftgym.ChatPolicy(server.base_url, "scripted", timeout=3.0, attempt_timeout=0.5, max_attempts=3)
        result = rftgym.rollout(MATH, policy, out, num_tasks=20, group_size=2, concurrency=16, progress=False)
        injected = sum(server.fault_counts.values())
    lines = read_lines(out)
    assert injected > 10
    ids = Counter(l["id"] for l in lines)
    assert len(ids) == 40 and set(ids.values()) == {1}, "every episode exactly once"
    for line in lines:
        finished = line["error"] is None and (line["terminated"] or line["truncated"])
        assert finished or line["error"]["type"] and line["error"]["message"]
    assert result.written == 40 and result.stopped is None  # transient faults never stop a run
    assert sum(l["error"] is None for l in lines) >= 30, "retries should rescue most episodes"


class ExplodingEnv(ChatEnv):
    """Raises inside step on one task (a bug in a researcher's env)."""

    def tasks(self, split="train", num_tasks=None):
        return [Task(id=f"t{i}", split=split, prompt=f"task {i}") for i in range(num_tasks or 4)]

    def task_by_id(self, task_id):
        return self.tasks()[int(task_id[1:])]

    @tool
    def noop(self) -> str:
        """Do nothing."""
        return "ok"

    def react(self, message, results):
        if self.task.id == "t1":
            raise RuntimeError("database connection lost")
        return [], "done"

    rubric = Rubric([])

    def oracle_action(self, task, messages):
        return {"role": "assistant", "content": "finished"}


register_env("tests/Exploding-v0", f"{__name__}:ExplodingEnv")


def test_env_exception_is_recorded_and_the_run_goes_on(tmp_path):
    out = tmp_path / "boom.jsonl"
    result = rftgym.rollout(
        "tests/Exploding-v0", oracle_policy("tests/Exploding-v0"), out, split="train", num_tasks=4, progress=False
    )
    lines = {l["task_id"]: l for l in read_lines(out)}
    assert result.written == 4 and result.errors == 1
    assert lines["t1"]["error"] == {"type": "RuntimeError", "message": "database connection lost"}
    assert lines["t1"]["messages"][-1] == {"role": "assistant", "content": "finished"}, "what was done is kept"
    assert all(lines[t]["error"] is None and lines[t]["terminated"] for t in ("t0", "t2", "t3"))


def test_turn_time_limit_cuts_a_stuck_policy(tmp_path, math_oracle):
    out = tmp_path / "slow.jsonl"
    with ScriptedServer(respond=math_oracle, fault_script=["slow"] * 50, slow_seconds=3) as server:
        policy = rftgym.ChatPolicy(server.base_url, "scripted", timeout=30)
        rftgym.rollout(MATH, policy, out, num_tasks=2, turn_timeout=0.5, progress=False)
    for line in read_lines(out):
        assert line["truncated"] and line["termination_reason"] == "time_limit"
        assert line["error"]["type"] == "EpisodeTimeout" and "turn time limit" in line["error"]["message"]


def test_resume_skips_finished_episodes(tmp_path):
    out = tmp_path / "resume.jsonl"
    first = rftgym.rollout(MATH, oracle_policy(MATH), out, num_tasks=3, group_size=2, progress=False)
    again = rftgym.rollout(MATH, oracle_policy(MATH), out, num_tasks=5, group_size=2, resume=True, progress=False)
    lines = read_lines(out)
    assert (first.written, again.written, again.skipped) == (6, 4, 6)
    assert len({l["id"] for l in lines}) == len(lines) == 10
    assert len({l["run_id"] for l in lines}) == 1, "a resumed run keeps its run id"


def test_noop_policy_scores_zero(tmp_path):
    out = tmp_path / "noop.jsonl"
    rftgym.rollout(MATH, rftgym.NoopPolicy(), out, num_tasks=5, progress=False)
    assert all(l["outcome_reward"] == 0.0 and l["error"] is None for l in read_lines(out))


def test_gymnasium_make_gives_a_chat_env():
    env = gymnasium.make(MATH)
    messages, info = env.reset(seed=1)
    assert messages[-1]["role"] == "user" and info["tools"] and info["task_id"]


def test_the_same_rejection_in_a_row_stops_the_run_and_a_success_resets_the_count(tmp_path):
    """7 episodes rejected (HTTP 400), one answered, then rejections only: the run stops after the
    8th rejection in a row, and the episodes not yet started are neither played nor written."""
    out = tmp_path / "rejected.jsonl"
    script = ["400"] * 7 + ["ok"]  # a Letters episode is one request
    with ScriptedServer(OracleResponder("rftgym/Letters-v0"), fault_script=script, faults={"400": 1.0}) as server:
        policy = rftgym.ChatPolicy(server.base_url, "scripted", timeout=10)
        result = rftgym.rollout("rftgym/Letters-v0", policy, out, group_size=2, concurrency=1, progress=False)
    lines = read_lines(out)
    assert result.written == len(lines) == 7 + 1 + 8 < 32
    assert [line["error"] is None for line in lines] == [False] * 7 + [True] + [False] * 8
    assert result.stopped is not None and "8 episodes in a row failed with the same answer" in result.stopped
    assert "PolicyError: endpoint" in result.stopped and "HTTP 400" in result.stopped
