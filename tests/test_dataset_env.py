"""rftgym/Dataset-v0: a Bedrock RFT JSONL file as an env; named rubrics, reward Lambdas, malformed lines."""

import json

import gymnasium
import pytest

import rftgym
from rftgym.cli import main
from rftgym.envs.dataset import RECORDED, DatasetEnv
from rftgym.envs.math.env import RUBRIC as MATH_RUBRIC
from rftgym.rewards import lambda_handler
from rftgym.types import assistant_message, tool_call

DATASET = "rftgym/Dataset-v0"


def exported_math(tmp_path, count=12):
    out = tmp_path / "math.jsonl"
    args = ["export", "--env", "rftgym/MathTools-v0", "--format", "bedrock-rft", "--num-tasks", str(count)]
    assert main([*args, "--out", str(out)]) == 0
    return out


def test_an_exported_file_is_scored_by_a_reward_lambda(tmp_path, monkeypatch):
    path = exported_math(tmp_path)
    (tmp_path / "my_reward.py").write_text(
        "from rftgym.envs.math.env import RUBRIC\nfrom rftgym.rewards import lambda_handler\n"
        "handler = lambda_handler(RUBRIC)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    env = DatasetEnv(path=str(path), reward="my_reward:handler")
    assert len(env.tasks("train")) == 11 and len(env.tasks("test")) == 1  # every tenth record is a test task
    oracle, noop = tmp_path / "oracle.jsonl", tmp_path / "noop.jsonl"
    kwargs = {"env_kwargs": {"path": str(path), "reward": "my_reward:handler"}, "split": "train", "progress": False}
    rftgym.rollout(DATASET, rftgym.OraclePolicy(env.oracle_action), oracle, **kwargs)
    rftgym.rollout(DATASET, rftgym.NoopPolicy(), noop, **kwargs)
    played = list(rftgym.read_trajectories(oracle))
    assert len(played) == 11 and all(t.reward == 1.0 and t.error is None for t in played)
    assert played[0].outcome_components["lambda/answer_correct"] == 1.0
    assert played[0].tools and played[0].messages[0]["role"] == "system"  # the record's own opening and tools
    for t in rftgym.read_trajectories(noop):  # the Lambda's total holds the math rubric's format penalty
        assert t.outcome_components["lambda/answer_correct"] == 0.0 and t.reward == -0.05 and t.error is None


def test_a_rubric_object_or_a_named_rubric_scores_too(tmp_path):
    path = exported_math(tmp_path, 3)
    handler_env = DatasetEnv(path=str(path), reward=lambda_handler(MATH_RUBRIC))
    for env in (handler_env, DatasetEnv(path=str(path), reward=MATH_RUBRIC), DatasetEnv(str(path), "numeric")):
        task = env.tasks("train")[0]
        env.reset(options={"task": task.id})
        *_, info = env.step(assistant_message(f"So the answer is {task.answer}."))
        assert info["outcome_reward"] == 1.0
    with pytest.raises(ValueError, match="reward must be one of exact, numeric, json"):
        DatasetEnv(reward="nonsense")


def test_malformed_lines_are_reported_as_file_line_and_skipped_or_refused(tmp_path):
    good = {"messages": [{"role": "user", "content": "Say hi"}], "reference_answer": "hi"}
    lines = [json.dumps(good), "{not json", "[1, 2]", json.dumps({"messages": [{"role": "system", "content": "x"}]}),
             "", json.dumps({**good, "tools": [{"type": "function"}]}), json.dumps({**good, "split": "test"})]  # fmt: skip
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="skipped 4 malformed lines"):
        env = DatasetEnv(str(path))
    assert [p.split(": ")[0] for p in env.skipped] == [f"{path}:{n}" for n in (2, 3, 4, 6)]
    assert "no user message" in env.skipped[2] and [t.id for t in env.tasks("test")] == ["line-7"]
    with pytest.raises(ValueError, match=f"{path}:2: not JSON"):
        DatasetEnv(str(path), on_error="refuse")


def test_tool_calls_are_checked_and_recorded_then_the_reply_ends_the_episode():
    schema = {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}}}  # fmt: skip
    record = {"id": "t1", "split": "train", "messages": [{"role": "user", "content": "Find x"}],
              "reference_answer": "x", "tools": [schema]}  # fmt: skip
    env = DatasetEnv(max_turns=3)
    env._tasks = [env._task(0, record)]
    env._by_id = {"t1": env._tasks[0]}
    _, info = env.reset(options={"task": "t1"})
    assert [t["function"]["name"] for t in info["tools"]] == ["lookup"]
    new, _, terminated, _, info = env.step(assistant_message(None, [tool_call("lookup", {"key": "x"})]))
    assert new[0]["content"] == RECORDED and not terminated
    _, _, _, _, info = env.step(assistant_message(None, [tool_call("lookup", {})]))
    assert info["tool_errors"] == {"invalid_arguments": 1}
    *_, info = env.step(assistant_message("x"))
    assert info["termination_reason"] == "answered" and info["outcome_reward"] == 1.0


def test_the_cli_plays_a_file_given_as_env_args(tmp_path, capsys):
    path = exported_math(tmp_path, 3)
    out = tmp_path / "run.jsonl"
    args = ["rollout", DATASET, "--policy", "oracle", "--split", "train", "--no-progress", "--out", str(out)]
    assert main([*args, "--env-arg", f"path={path}", "--env-arg", "reward=numeric"]) == 0
    assert [t.reward for t in rftgym.read_trajectories(out)] == [1.0, 1.0, 1.0]
    assert gymnasium.make(DATASET).unwrapped.tasks("test")[0].answer == "200"  # the built-in sample
