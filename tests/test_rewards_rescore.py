"""Rescoring stored trajectories, the Bedrock Lambda adapter both ways, exports, and channel warnings."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import gymnasium
import pytest

import rftgym
from rftgym.agents import PolicyResponse
from rftgym.envs.math.env import RUBRIC as MATH_RUBRIC
from rftgym.export import check_bedrock_size
from rftgym.rescore import EnvTasks, load_rubric, rescore_file
from rftgym.rewards import (
    RewardContext,
    RewardTerm,
    Rubric,
    lambda_handler,
    lambda_term,
    numeric_match,
    turn_count_penalty,
)
from rftgym.trajectories import Trajectory, Turn, read_trajectories, summarize

MATH = "rftgym/MathTools-v0"

#: A stricter rubric for the math env, loaded by ``--rubric tests.test_rewards_rescore:STRICT``.
STRICT = Rubric(
    [
        RewardTerm("answer_correct", numeric_match(response=lambda c: c.response or None), weight=2.0, scope="outcome"),
        RewardTerm("turns", turn_count_penalty(free_turns=1), weight=-0.5, scope="outcome"),
    ]
)


class MixedPolicy:
    """Plays the oracle, but now and then sends a malformed tool call or gives a wrong final answer."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    def describe(self) -> dict:
        return {"name": "mixed", "model": None, "base_url": None, "sampling": {}}

    def for_task(self, task):
        return _MixedEpisode(self, task)

    async def aclose(self):
        pass


class _MixedEpisode:
    def __init__(self, parent: MixedPolicy, task):
        self.parent, self.task = parent, task
        self.oracle = gymnasium.make(MATH).unwrapped.oracle_action

    def describe(self) -> dict:
        return self.parent.describe()

    async def aclose(self):
        pass

    async def act(self, messages, tools) -> PolicyResponse:
        draw = self.parent.rng.random()
        if draw < 0.2:
            call = {"id": "bad", "type": "function", "function": {"name": "calculator", "arguments": "{oops"}}
            return PolicyResponse(message={"role": "assistant", "content": None, "tool_calls": [call]})
        if draw < 0.35:
            return PolicyResponse(message={"role": "assistant", "content": "I think it is\n#### 0"})
        return PolicyResponse(message=self.oracle(self.task, messages))


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mixed.jsonl"
    rftgym.rollout(MATH, MixedPolicy(), out, num_tasks=8, group_size=3, concurrency=1, progress=False)
    return out


def test_rescoring_with_the_envs_own_rubric_reproduces_every_reward(played, tmp_path):
    out = tmp_path / "same.jsonl"
    assert rescore_file(played, out) == 24
    before, after = list(read_trajectories(played)), list(read_trajectories(out))
    assert {t.outcome_components["answer_correct"] for t in before} == {0.0, 1.0}, "the fixture should vary"
    assert any(turn.reward_components["invalid_tool_calls"] for t in before for turn in t.turns)
    for old, new in zip(before, after):
        assert new.reward == pytest.approx(old.reward) and new.outcome_reward == old.outcome_reward
        assert new.outcome_components == old.outcome_components
        assert [t.reward_components for t in new.turns] == [t.reward_components for t in old.turns]
        assert [t.reward for t in new.turns] == pytest.approx([t.reward for t in old.turns])
        assert new.messages == old.messages and new.metadata["rescored"] == {"rubric": "env"}


def test_rescoring_with_a_new_rubric_on_the_command_line(played, tmp_path):
    out = tmp_path / "strict.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rftgym",
            "rescore",
            str(played),
            "--rubric",
            "tests.test_rewards_rescore:STRICT",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "24 episodes rescored" in result.stderr
    for old, new in zip(read_trajectories(played), read_trajectories(out)):
        assert set(new.outcome_components) == {"answer_correct", "turns"}
        assert new.outcome_components["turns"] == max(0, len(old.turns) - 1)
        assert all(t.reward_components == {} and t.reward == 0.0 for t in new.turns)
        final_text = old.messages[old.turns[-1].message_index].get("content")
        assert new.outcome_components["answer_correct"] == float(
            bool(final_text) and old.outcome_components["answer_correct"] == 1.0
        )
        assert new.reward == pytest.approx(
            2 * new.outcome_components["answer_correct"] - 0.5 * new.outcome_components["turns"]
        )
        assert new.metadata["rescored"]["rubric"] == "tests.test_rewards_rescore:STRICT"
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "rftgym",
            "rescore",
            str(played),
            "--rubric",
            "tests.test_rewards_rescore:STRICT",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "exists" in again.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "rftgym",
            "rescore",
            str(played),
            "--rubric",
            "tests.nowhere:X",
            "--out",
            str(tmp_path / "x.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "cannot load rubric" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_group_terms_are_applied_when_rescoring(played, tmp_path):
    ranked = Rubric(
        [*MATH_RUBRIC.terms(), RewardTerm("first", lambda cs: [1.0] + [0.0] * (len(cs) - 1), scope="group")]
    )
    out = tmp_path / "ranked.jsonl"
    rescore_file(played, out, ranked)
    for traj in read_trajectories(out):
        assert traj.outcome_components["first"] == float(traj.sample_index == 0)


def test_load_rubric_accepts_rubrics_envs_and_factories():
    assert [t.name for t in load_rubric("tests.test_rewards_rescore:STRICT").terms()] == ["answer_correct", "turns"]
    assert load_rubric("rftgym.envs.math.env:RUBRIC") is MATH_RUBRIC
    assert load_rubric("rftgym.envs.math:MathToolsEnv") is MATH_RUBRIC
    with pytest.raises(ValueError, match="is a str, not a rftgym.rewards.Rubric"):
        load_rubric("rftgym:__version__")
    with pytest.raises(ValueError, match="cannot build the rubric"):
        load_rubric("json:JSONDecodeError")
    with pytest.raises(ValueError, match="module:attr"):
        load_rubric("STRICT")


# ----- the Bedrock Lambda adapter -----


def sample(i: int, final: str, **extra) -> dict:
    return {
        "id": f"s{i}",
        "messages": [{"role": "user", "content": "What is 6 x 7?"}, {"role": "assistant", "content": final}],
        **extra,
    }


def test_a_rubric_as_a_lambda_handler():
    handler = lambda_handler(MATH_RUBRIC)
    results = handler(
        [
            sample(1, "It is\n#### 42", metadata={"reference_answer": "42"}),
            sample(2, "#### 41", reference_answer=42),
            sample(3, "no number at all", reference_answer="42"),
        ],
        None,
    )
    assert [r["id"] for r in results] == ["s1", "s2", "s3"]
    assert [r["aggregate_reward_score"] for r in results] == pytest.approx([1.0, 0.0, -0.05])
    metrics = {m["name"]: m for m in results[2]["metrics_list"]}
    assert metrics["format_violation"] == {"name": "format_violation", "value": 1.0, "type": "Reward"}
    assert metrics["answer_correct"]["value"] == 0.0
    assert handler(sample(4, "#### 42", reference_answer="42"), None)[0]["aggregate_reward_score"] == 1.0
    assert handler({"samples": [sample(5, "#### 42", reference_answer="42")]}, None)[0]["id"] == "s5"


def test_a_bedrock_style_lambda_as_a_reward_term():
    def my_lambda(event, context):  # written for Bedrock, knows nothing of rftgym
        out = []
        for s in event:
            said = s["messages"][-1]["content"]
            ok = str(s["metadata"]["reference_answer"]) in said
            out.append(
                {
                    "id": s["id"],
                    "aggregate_reward_score": 1.0 if ok else 0.0,
                    "metrics_list": [{"name": "length", "value": len(said), "type": "Metric"}],
                }
            )
        return out

    rubric = Rubric([RewardTerm("lambda", lambda_term(my_lambda), scope="outcome")])
    env = rftgym.envs.math.MathToolsEnv()
    env.reset(options={"task": "math-test-00001"})
    env.step({"role": "assistant", "content": f"#### {env.task.answer}"})
    ctx = RewardContext(env.task, env.messages, 1)
    assert rubric.score(ctx, "outcome") == (
        1.0,
        {"lambda": 1.0, "lambda/length": float(len(f"#### {env.task.answer}"))},
    )


def test_lambda_round_trip_matches_the_rubric(played):
    """rubric -> Lambda handler -> reward term: the same total for every stored episode."""
    wrapped = Rubric([RewardTerm("bedrock", lambda_term(lambda_handler(MATH_RUBRIC)), scope="outcome")])
    tasks = EnvTasks()
    for traj in read_trajectories(played):
        if traj.error is None:
            ctx = RewardContext(tasks.task(traj), traj.messages, len(traj.turns), trajectory=traj)
            assert wrapped.score(ctx, "outcome")[0] == pytest.approx(traj.reward), traj.id


# ----- exports -----


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "rftgym", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_export_bedrock_rft_from_a_task_split(tmp_path):
    out = tmp_path / "rft.jsonl"
    result = run_cli(
        "export", "--env", MATH, "--split", "test", "--num-tasks", "5", "--format", "bedrock-rft", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "at least 100" in result.stderr and "5 bedrock-rft records" in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5
    for r in records:
        assert [m["role"] for m in r["messages"]] == ["system", "user"]
        assert r["reference_answer"] is not None and {t["function"]["name"] for t in r["tools"]} == {
            "calculator",
            "submit_answer",
        }
    # what Bedrock would send our own handler back scores a correct completion 1.0
    r = records[0]
    graded = lambda_handler(MATH_RUBRIC)(
        [{**r, "messages": r["messages"] + [{"role": "assistant", "content": f"#### {r['reference_answer']}"}]}], None
    )
    assert graded[0]["aggregate_reward_score"] == 1.0


def test_export_from_trajectories(played, tmp_path):
    rft, sft = tmp_path / "rft.jsonl", tmp_path / "sft.jsonl"
    assert run_cli("export", str(played), "--format", "bedrock-rft", "--out", str(rft)).returncode == 0
    records = [json.loads(line) for line in rft.read_text().splitlines()]
    assert len(records) == 8 and all(r["messages"][-1]["role"] == "user" and r["tools"] for r in records)
    assert (
        run_cli("export", str(played), "--format", "openai-sft", "--threshold", "1.0", "--out", str(sft)).returncode
        == 0
    )
    good = [t for t in read_trajectories(played) if t.error is None and t.reward >= 1.0]
    lines = [json.loads(line) for line in sft.read_text().splitlines()]
    assert 0 < len(lines) == len(good) < 24
    assert all(
        set(m) <= {"role", "content", "tool_calls", "tool_call_id", "name"} for l in lines for m in l["messages"]
    )
    both = run_cli("export", str(played), "--env", MATH, "--format", "bedrock-rft", "--out", str(rft))
    assert both.returncode == 2 and "not both" in both.stderr


def test_bedrock_size_limits():
    assert check_bedrock_size(100) is None and check_bedrock_size(20_000) is None
    assert "at least 100" in check_bedrock_size(99)
    with pytest.raises(ValueError, match="at most 20,000"):
        check_bedrock_size(20_001)


# ----- dead and gamed channels -----


def episode(group: str, i: int, reward: float, correct: float, fmt: float = 1.0) -> Trajectory:
    return Trajectory(
        id=f"{group}#{i}",
        run_id="r",
        env_id="e",
        task_id=group,
        group_id=group,
        sample_index=i,
        turns=[Turn(message_index=1, reward_components={"fmt": fmt})],
        outcome_components={"correct": correct},
        outcome_reward=correct,
        reward=reward,
        terminated=True,
    )


def test_a_component_constant_within_every_group_is_a_dead_channel(tmp_path):
    episodes = [episode("a", 0, 1, 1), episode("a", 1, 0, 0), episode("b", 0, 1, 1), episode("b", 1, 1, 1)]
    summary = summarize(episodes)
    assert summary["component_spread"]["turn/fmt"] == {"episode_mean": 1.0, "within_group_std": 0.0}
    assert summary["component_spread"]["outcome/correct"]["within_group_std"] == pytest.approx(0.25)
    assert len(summary["warnings"]) == 1 and "dead channel: turn/fmt" in summary["warnings"][0]
    path = tmp_path / "dead.jsonl"
    with rftgym.TrajectoryWriter(path) as writer:
        for e in episodes:
            writer.write(e)
    result = run_cli("stats", str(path))
    assert result.returncode == 0 and "warning: dead channel: turn/fmt" in result.stderr
    assert "within-group std" in result.stdout


def test_reward_rising_while_accuracy_falls_is_flagged():
    early = [episode(f"g{i}", j, reward=0.5, correct=1.0, fmt=j) for i in range(3) for j in range(2)]
    late = [episode(f"h{i}", j, reward=0.9, correct=0.0, fmt=j) for i in range(3) for j in range(2)]
    warnings = summarize(early + late)["warnings"]
    assert any("gamed channel?" in w and "outcome/correct fell 1.000 -> 0.000" in w for w in warnings)
    assert not any("gamed" in w for w in summarize(late + early)["warnings"])


def test_terms_that_read_the_live_env_keep_their_recorded_values_and_are_named_up_front(tmp_path):
    """Retail's database terms need the env: a rescore keeps what was played (never a fake 0)."""
    from conftest import oracle_policy  # here: `rescore --rubric` imports this module without tests/ on the path

    played, out = tmp_path / "retail.jsonl", tmp_path / "retail-rescored.jsonl"
    rftgym.rollout("rftgym/Retail-v0", oracle_policy("rftgym/Retail-v0"), played, num_tasks=4, progress=False)
    result = run_cli("rescore", str(played), "--out", str(out))
    assert result.returncode == 0, result.stderr
    first_line = result.stderr.splitlines()[0]  # messages go to stderr, data to stdout
    assert "kept as recorded" in first_line and "db_match" in first_line and "task_success" in first_line
    for old, new in zip(read_trajectories(played), read_trajectories(out)):
        assert new.outcome_components == old.outcome_components and new.reward == pytest.approx(old.reward)
        assert new.outcome_components["task_success"] == 1.0
