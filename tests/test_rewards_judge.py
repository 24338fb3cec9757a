"""The LLM judge through a real OpenAI-compatible HTTP server (the scripted test server)."""

from __future__ import annotations

import re

import pytest

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.envs import ChatEnv, register_env
from rftgym.rewards import LLMJudge, RewardContext, RewardTerm, RewardTermError, Rubric
from rftgym.rewards.judge import parse_scores
from rftgym.trajectories import read_trajectories
from rftgym.types import Task

CRITERIA = "10: polite and correct. 0: rude or wrong."


def verdict_from_request(request: dict) -> dict:
    """The judge's verdict is scripted by the graded text: its last 'VERDICT=<what to answer>'."""
    found = re.findall(r"VERDICT=(.*?)(?:\n|$)", request["messages"][-1]["content"])
    return {"content": "The reply is fine.\n" + (found[-1] if found else "SCORE: 5")}


def context(text: str, messages: list[dict] | None = None) -> RewardContext:
    task = Task(id="j", split="test", prompt="Help me", answer="the reference")
    return RewardContext(
        task, messages or [{"role": "user", "content": "Help me"}, {"role": "assistant", "content": text}], 1
    )


@pytest.fixture
def server():
    with ScriptedServer(verdict_from_request) as s:
        yield s


def judge(server, **kwargs) -> LLMJudge:
    return LLMJudge(server.base_url, "judge", CRITERIA, max_retries=kwargs.pop("max_retries", 0), **kwargs)


def test_a_well_formed_verdict_is_mapped_to_the_unit_interval(server):
    rubric = Rubric([RewardTerm("polite", judge(server), scope="outcome")])
    reward, components = rubric.score(context("VERDICT=SCORE: 8"), "outcome")
    assert reward == pytest.approx(0.8) and components == {"polite": pytest.approx(0.8), "polite/raw": 8.0}
    sent = server.request_log[-1]["messages"][-1]["content"]
    assert CRITERIA in sent and "the reference" in sent and "SCORE: <number>" in sent


@pytest.mark.parametrize("verdict", ["SCORE: 11", "SCORE: -1", "SCORE: high", "I refuse to grade this.", ""])
def test_out_of_range_missing_and_garbage_verdicts_are_judge_errors(server, verdict):
    rubric = Rubric(
        [RewardTerm("polite", judge(server), scope="outcome"), RewardTerm("other", lambda c: 1.0, scope="outcome")]
    )
    assert rubric.score(context(f"VERDICT={verdict}"), "outcome") == (1.0, {"polite/error": 1.0, "other": 1.0})


def test_a_broken_endpoint_is_a_judge_error():
    with ScriptedServer(verdict_from_request, fault_script=["garbage", "500"]) as server:
        j = judge(server)
        for _ in range(2):
            with pytest.raises(RewardTermError, match="judge request failed"):
                j(context("VERDICT=SCORE: 3"))


def test_retries_then_answers():
    with ScriptedServer(verdict_from_request, fault_script=["429", "ok"]) as server:
        assert judge(server, max_retries=2)(context("VERDICT=SCORE: 3")).value == pytest.approx(0.3)
        assert server.requests == 2


def test_the_cache_is_keyed_on_the_exact_input(server):
    j = judge(server)
    assert j(context("VERDICT=SCORE: 7")).value == j(context("VERDICT=SCORE: 7")).value == pytest.approx(0.7)
    assert server.requests == 1 and j.requests == 1
    j(context("VERDICT=SCORE: 7 "))  # another input
    assert server.requests == 2
    with pytest.raises(RewardTermError):
        j(context("VERDICT=nothing"))
    with pytest.raises(RewardTermError):
        j(context("VERDICT=nothing"))
    assert server.requests == 4  # failed verdicts are asked again


def test_custom_scale_and_turn_target(server):
    j = judge(server, scale=(1, 5), target="turn")
    messages = [
        {"role": "user", "content": "Help me"},
        {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "VERDICT=SCORE: 4"},
        {"role": "user", "content": "thanks"},
    ]
    assert j(context("", messages)).value == pytest.approx(0.75)
    sent = server.request_log[-1]["messages"][-1]["content"]
    before, graded = sent.split("## The message to grade")
    assert "earlier answer" in before and "VERDICT" in graded and "thanks" not in sent


def test_group_relative_judging(server):
    j = judge(server)
    contexts = [context("VERDICT=SCORES: 2, 9, 5.5"), context("b"), context("c")]
    assert j.rank_group(contexts) == pytest.approx([0.2, 0.9, 0.55])
    assert "Response 3" in server.request_log[-1]["messages"][-1]["content"]
    rubric = Rubric([RewardTerm("rank", j.rank_group, scope="group")])
    failed = rubric.score_group([context("VERDICT=SCORES: 2, 9"), context("b"), context("c")])
    assert failed == [(0.0, {"rank/error": 1.0})] * 3


def test_parse_scores():
    assert parse_scores("SCORE: 3\nno wait, SCORE: **7.5**", 1, (0, 10)) == [7.5]
    assert parse_scores(" 6 ", 1, (0, 10)) == [6.0]
    assert parse_scores("Score: 8/10.", 1, (0, 10)) == [8.0]
    assert parse_scores("Final SCORE = 4.", 1, (0, 10)) == [4.0]
    assert parse_scores("SCORES: 1, 2,3", 3, (0, 10)) == [1.0, 2.0, 3.0]
    with pytest.raises(RewardTermError, match="outside the scale"):
        parse_scores("SCORE: 10.5", 1, (0, 10))


class JudgedEnv(ChatEnv):
    """A chat env scored per turn by a judge (its URL set by the test)."""

    rubric: Rubric

    def tasks(self, split="train", num_tasks=None):
        return [Task(id="t", split=split, prompt="Say hi")]

    def react(self, message, results):
        return [{"role": "user", "content": "ok"}], None


def test_an_env_scores_each_turn_with_the_judge(server):
    env = JudgedEnv(max_turns=2)
    env.rubric = Rubric([RewardTerm("polite", judge(server, target="turn"))])
    env.reset(options={"task": "t"})
    _, reward, *_, info = env.step({"role": "assistant", "content": "VERDICT=SCORE: 9"})
    assert reward == pytest.approx(0.9) and info["reward_components"]["polite/raw"] == 9.0
    _, reward, *_, info = env.step({"role": "assistant", "content": "VERDICT=SCORE: ten"})
    assert reward == 0.0 and info["reward_components"] == {"polite/error": 1.0}


class PoliteDeskEnv(ChatEnv):
    """One-turn env judged per turn and at the outcome by the judge at ``judge_url``."""

    def __init__(self, judge_url: str, max_turns: int = 1):
        super().__init__(max_turns=max_turns)
        self.rubric = Rubric(
            [
                RewardTerm("turn_polite", LLMJudge(judge_url, "judge", CRITERIA, target="turn"), weight=0.5),
                RewardTerm("polite", LLMJudge(judge_url, "judge", CRITERIA), scope="outcome"),
            ]
        )

    def tasks(self, split="train", num_tasks=None):
        return [Task(id=f"p{i}", split=split, prompt=f"Greet customer {i}") for i in range(num_tasks or 4)]


register_env("tests/PoliteDesk-v0", f"{__name__}:PoliteDeskEnv")


def test_judge_components_land_in_the_trajectory_file(tmp_path, server):
    """The policy and the judge are both real HTTP endpoints; the judge runs inside env.step."""
    out = tmp_path / "judged.jsonl"
    with ScriptedServer(lambda request: {"content": "Hello! VERDICT=SCORE: 7"}) as policy_server:
        policy = rftgym.ChatPolicy(policy_server.base_url, "scripted", timeout=10)
        result = rftgym.rollout(
            "tests/PoliteDesk-v0",
            policy,
            out,
            env_kwargs={"judge_url": server.base_url},
            split="test",
            num_tasks=4,
            group_size=2,
            concurrency=4,
            progress=False,
        )
    assert result.written == 8 and result.errors == 0
    for traj in read_trajectories(out):
        assert traj.turns[0].reward_components == {"turn_polite": pytest.approx(0.7), "turn_polite/raw": 7.0}
        assert traj.outcome_components == {"polite": pytest.approx(0.7), "polite/raw": 7.0}
        assert traj.reward == pytest.approx(0.5 * 0.7 + 0.7)
