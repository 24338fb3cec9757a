"""The verifiers bridge, checked with verifiers' own evaluation against the scripted server: its
rewards equal rftgym's own rollout of the same tasks with the same model."""

from __future__ import annotations

import json

import pytest
from conftest import OracleResponder

pytest.importorskip("verifiers")

import verifiers as vf  # noqa: E402

import rftgym  # noqa: E402
from rftgym.agents.testing import ScriptedServer  # noqa: E402
from rftgym.bridges.verifiers import load_environment  # noqa: E402
from rftgym.envs import ChatEnv, register_env  # noqa: E402
from rftgym.rewards import Rubric  # noqa: E402
from rftgym.trajectories import read_trajectories  # noqa: E402
from rftgym.types import Task  # noqa: E402

MATH = "rftgym/MathTools-v0"


class Model:
    """The math oracle, except that it submits a wrong answer to the second task, and first makes
    a malformed call on the third (a turn penalty): rewards that differ from task to task.
    OpenAI's tool messages carry no ``name`` (verifiers sends none); the oracle reads it, so it is
    filled in from the calls."""

    def __init__(self):
        self.oracle = OracleResponder(MATH)
        self.prompts = [t.prompt for t in list(self.oracle.by_prompt.values())[:3]]

    def __call__(self, request: dict) -> dict:
        messages = request["messages"]
        names = {c["id"]: c["function"]["name"] for m in messages for c in m.get("tool_calls") or []}
        messages = [{**m, "name": names.get(m.get("tool_call_id"))} if m["role"] == "tool" else m for m in messages]
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        if prompt == self.prompts[2] and len(messages) == 2:
            return {"content": None, "tool_calls": [{"function": {"name": "calculator", "arguments": "{bad"}}]}
        answer = self.oracle({**request, "messages": messages})
        call = answer["tool_calls"][0]["function"]
        if prompt == self.prompts[1] and call["name"] == "submit_answer":
            call["arguments"] = json.dumps({"answer": "-1"})
        return answer


def test_verifiers_evaluation_rewards_equal_rftgym_rollout(tmp_path, monkeypatch):
    monkeypatch.setenv("RFTGYM_TEST_API_KEY", "EMPTY")
    model = Model()
    out = tmp_path / "local.jsonl"
    with ScriptedServer(respond=model) as server:
        policy = rftgym.ChatPolicy(server.base_url, "scripted", timeout=10)
        rftgym.rollout(MATH, policy, out, num_tasks=3, progress=False)
        env = load_environment(MATH, num_tasks=3)
        client = vf.ClientConfig(api_key_var="RFTGYM_TEST_API_KEY", api_base_url=server.base_url)
        results = env.evaluate_sync(client=client, model="scripted", num_examples=3)
    local = {t.task_id: t for t in read_trajectories(out)}
    outputs = results["outputs"]
    assert len(outputs) == 3
    for output in outputs:
        expected = local[output["info"]["task_id"]]
        assert output["error"] is None and output["stop_condition"] == "has_final_env_response"
        assert output["reward"] == pytest.approx(expected.reward)
        assert output["metrics"]["rftgym_outcome"] == pytest.approx(expected.outcome_reward)
        assert output["metrics"]["rftgym_turns"] == pytest.approx(sum(t.reward for t in expected.turns))
        assert output["metrics"]["num_turns"] == len(expected.turns)
    rewards = sorted(round(o["reward"], 6) for o in outputs)
    print("verifiers rewards:", rewards)
    assert len(set(rewards)) == 3  # a correct, a wrong and a penalised episode


class BrokenEnv(ChatEnv):
    """Its step fails (a bug in a researcher's env)."""

    rubric = Rubric([])

    def tasks(self, split="train", num_tasks=None):
        return [Task(id="t0", split=split, prompt="hello")]

    def react(self, message, results):
        raise RuntimeError("database connection lost")


register_env("tests/VerifiersBroken-v0", f"{__name__}:BrokenEnv")


def test_an_env_failure_is_a_verifiers_error(monkeypatch):
    monkeypatch.setenv("RFTGYM_TEST_API_KEY", "EMPTY")
    with ScriptedServer() as server:
        env = load_environment("tests/VerifiersBroken-v0", split="train")
        client = vf.ClientConfig(api_key_var="RFTGYM_TEST_API_KEY", api_base_url=server.base_url)
        (output,) = env.evaluate_sync(client=client, model="scripted", num_examples=1)["outputs"]
    assert output["error"] is not None and "database connection lost" in str(output["error"])
    assert output["stop_condition"] == "has_error"
