"""The reward contract (RewardContext, RewardTerm, Rubric) and every built-in term on hand-made cases."""

from __future__ import annotations

import gymnasium
import pytest

import rftgym.envs  # noqa: F401  (registers the envs)
from rftgym.envs import ChatEnv
from rftgym.rewards import (
    RewardContext,
    RewardTerm,
    RewardTermError,
    Rubric,
    TermResult,
    exact_match,
    has_tags,
    info_communicated,
    json_valid,
    length_penalty,
    numeric_match,
    regex_match,
    repetition_penalty,
    state_match,
    tool_call_errors,
    turn_count_penalty,
    unit_test_pass_rate,
)
from rftgym.types import Task, ToolResult

TASK = Task(id="t1", split="test", prompt="How much?", answer="1234.5")


def ctx(
    text: str | None = "",
    *,
    answer=TASK.answer,
    messages: list[dict] | None = None,
    turn: int = 1,
    results: list | None = None,
    metadata: dict | None = None,
    env=None,
) -> RewardContext:
    task = Task(id="t1", split="test", prompt="How much?", answer=answer, metadata=metadata or {})
    messages = messages or [{"role": "user", "content": "How much?"}, {"role": "assistant", "content": text}]
    return RewardContext(task, messages, turn, env=env, results=results or [])


# ----- the rubric -----


def test_rubric_weights_sums_and_records_every_component():
    rubric = Rubric(
        [
            RewardTerm("a", lambda c: 1.0, weight=0.5),
            RewardTerm("b", lambda c: 2.0, weight=-1.0),
            RewardTerm("metric", lambda c: 7.0, weight=0.0),
            RewardTerm("parts", lambda c: {"x": 1.0, "y": 3.0}, weight=0.25),
            RewardTerm("end", lambda c: 1.0, scope="outcome"),
        ]
    )
    reward, components = rubric.score(ctx(), "turn")
    assert reward == pytest.approx(0.5 - 2.0 + 0.0 + 0.25 * 4)
    assert components == {"a": 1.0, "b": 2.0, "metric": 7.0, "parts/x": 1.0, "parts/y": 3.0}
    assert rubric.score(ctx(), "outcome") == (1.0, {"end": 1.0})
    assert [t.name for t in rubric.terms("outcome")] == ["end"]


def test_a_failed_gate_zeroes_the_other_terms_but_keeps_their_values():
    rubric = Rubric(
        [
            RewardTerm("format", has_tags("answer"), weight=0.0, scope="outcome", gate=True),
            RewardTerm("correct", numeric_match(), scope="outcome"),
            RewardTerm("bonus", lambda c: 1.0, weight=0.1, scope="outcome"),
        ]
    )
    assert rubric.score(ctx("<answer>1234.5</answer>"), "outcome")[0] == pytest.approx(1.1)
    reward, components = rubric.score(ctx("1234.5"), "outcome")
    assert reward == 0.0 and components == {"format": 0.0, "correct": 1.0, "bonus": 1.0}


def test_term_errors_are_recorded_not_scored_as_zero():
    def broken(c):
        raise RewardTermError("judge said 'banana'")

    rubric = Rubric([RewardTerm("judge", broken), RewardTerm("ok", lambda c: 1.0)])
    assert rubric.score(ctx(), "turn") == (1.0, {"judge/error": 1.0, "ok": 1.0})
    gated = Rubric([RewardTerm("judge", broken, gate=True), RewardTerm("ok", lambda c: 1.0)])
    assert gated.score(ctx(), "turn")[0] == 0.0


def test_term_result_metrics_are_recorded_but_not_weighted():
    rubric = Rubric([RewardTerm("judge", lambda c: TermResult(0.5, {"raw": 5.0}), weight=2.0)])
    assert rubric.score(ctx(), "turn") == (1.0, {"judge": 0.5, "judge/raw": 5.0})


def test_rubric_rejects_bad_declarations_and_values():
    with pytest.raises(ValueError, match="scope"):
        RewardTerm("x", lambda c: 0.0, scope="episode")
    with pytest.raises(ValueError, match="duplicate"):
        Rubric([RewardTerm("x", lambda c: 0.0), RewardTerm("x", lambda c: 1.0)])
    with pytest.raises(TypeError, match="'x' returned 'high'"):
        Rubric([RewardTerm("x", lambda c: "high")]).score(ctx(), "turn")
    with pytest.raises(TypeError, match="finite"):
        Rubric([RewardTerm("x", lambda c: float("nan"))]).score(ctx(), "turn")


def test_group_terms_score_every_episode_of_a_group():
    rubric = Rubric([RewardTerm("rank", lambda cs: [float(i) for i in range(len(cs))], weight=0.5, scope="group")])
    assert rubric.score_group([ctx(), ctx(), ctx()]) == [
        (0.0, {"rank": 0.0}),
        (0.5, {"rank": 1.0}),
        (1.0, {"rank": 2.0}),
    ]
    with pytest.raises(ValueError, match="returned 1 values for 2"):
        Rubric([RewardTerm("r", lambda cs: [1.0], scope="group")]).score_group([ctx(), ctx()])


# ----- answers -----


@pytest.mark.parametrize(
    "text",
    [
        "$1,234.50",
        "1234.5",
        "#### 1234.5",
        "The answer is 1,234.5 dollars.",
        "Step 1: 1000 + 234.5\n#### $1,234.50",
        "so \\boxed{1234.50}",
    ],
)
def test_numeric_match_reads_gsm8k_style_answers(text):
    assert numeric_match()(ctx(text)) == 1.0


@pytest.mark.parametrize("text", ["1234", "#### 1,234", "no idea", "", None])
def test_numeric_match_rejects_wrong_or_missing_answers(text):
    assert numeric_match()(ctx(text)) == 0.0


def test_numeric_match_tolerance_and_custom_getters():
    assert numeric_match(rel_tol=1e-3)(ctx("1234.9")) == 1.0
    assert numeric_match(abs_tol=0.5)(ctx("1234.9")) == 1.0 and numeric_match()(ctx("1234.9")) == 0.0
    submitted = numeric_match(response=lambda c: c.env["answer"], reference=lambda c: 42)
    assert submitted(ctx("whatever", env={"answer": "42.0"})) == 1.0
    assert numeric_match()(ctx("1", answer=None)) == 0.0


def test_exact_and_regex_match():
    assert exact_match()(ctx("The Eiffel Tower!", answer="eiffel tower")) == 1.0
    assert exact_match(normalize=False)(ctx("The Eiffel Tower!", answer="eiffel tower")) == 0.0
    assert exact_match(normalize=False)(ctx("  Paris\n", answer="Paris")) == 1.0
    assert exact_match()(ctx("paris", answer=["Lyon", "Paris"])) == 1.0
    assert regex_match(r"^ORDER-\d{4}$")(ctx("ORDER-1234")) == 1.0
    assert regex_match(r"^ORDER-\d{4}$")(ctx("order 1234")) == 0.0


# ----- format -----


def test_has_tags():
    term = has_tags("think", "answer")
    assert term(ctx("<think>add</think> <answer>3</answer>")) == 1.0
    assert term(ctx("<think>add</think> 3")) == 0.0
    assert term(ctx("<answer>3</answer><think>")) == 0.0


def test_json_valid_and_schema():
    schema = {"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}
    assert json_valid()(ctx('{"total": 3}')) == 1.0
    assert json_valid()(ctx('Here:\n```json\n{"total": 3}\n```')) == 1.0
    assert json_valid()(ctx("{total: 3}")) == 0.0
    assert json_valid(schema)(ctx('{"total": 3}')) == 1.0
    assert json_valid(schema)(ctx('{"total": "3"}')) == 0.0
    assert json_valid(schema)(ctx("[]")) == 0.0


# ----- behaviour -----


def test_tool_call_errors_counts_failed_calls():
    ok = ToolResult({"role": "tool", "content": "4"})
    bad = ToolResult({"role": "tool", "content": "Error: ..."}, "invalid_json")
    assert tool_call_errors()(ctx(results=[ok, bad, bad])) == 2.0
    assert tool_call_errors()(ctx(results=[ok])) == 0.0


def test_length_and_turn_count_penalties():
    assert length_penalty(10)(ctx("x" * 10)) == 0.0
    assert length_penalty(10)(ctx("x" * 15)) == pytest.approx(0.5)
    assert length_penalty(2, unit="words")(ctx("one two three four")) == pytest.approx(1.0)
    episode = [
        {"role": "assistant", "content": "x" * 8},
        {"role": "tool", "content": "y" * 50},
        {"role": "assistant", "content": "x" * 8},
    ]
    assert length_penalty(10, episode=True)(ctx(messages=episode)) == pytest.approx(0.6)
    assert length_penalty(10)(ctx(messages=episode)) == 0.0
    assert turn_count_penalty(free_turns=2)(ctx(turn=5)) == 3.0
    assert turn_count_penalty(free_turns=2)(ctx(turn=1)) == 0.0
    with pytest.raises(ValueError):
        length_penalty(10, unit="tokens")


def test_repetition_penalty():
    assert repetition_penalty(n=2)(ctx("a b c d e f")) == 0.0
    assert repetition_penalty(n=2)(ctx("go on go on go on")) == pytest.approx(3 / 5)
    loop = [{"role": "assistant", "content": "let me check that"}] * 3
    assert repetition_penalty(n=3, episode=True)(ctx(messages=loop)) > 0.5
    assert repetition_penalty(n=3)(ctx("")) == 0.0


# ----- env state -----


class Report:
    def __init__(self, passed, total):
        self.passed, self.total = passed, total


def test_unit_test_pass_rate_takes_a_runner():
    assert unit_test_pass_rate(lambda c: (3, 4))(ctx()) == 0.75
    assert unit_test_pass_rate(lambda c: None)(ctx()) == 0.0  # nothing submitted
    assert (
        unit_test_pass_rate(lambda c: c.env.run())(ctx(env=type("E", (), {"run": lambda self: Report(5, 5)})())) == 1.0
    )
    rubric = Rubric([RewardTerm("tests", unit_test_pass_rate(lambda c: (0, 0)), scope="outcome")])
    assert rubric.score(ctx(), "outcome") == (0.0, {"tests/error": 1.0})


def test_state_match():
    db = {"orders": {"A1": {"status": "cancelled"}}, "users": {"u": {"name": "Ann"}}}
    same = {"users": {"u": {"name": "Ann"}}, "orders": {"A1": {"status": "cancelled"}}}
    other = {"users": {"u": {"name": "Ann"}}, "orders": {"A1": {"status": "pending"}}}
    assert state_match(lambda c: db, lambda c: same)(ctx()) == 1.0
    assert state_match(lambda c: db, lambda c: other)(ctx()) == 0.0
    assert state_match(lambda c: db, lambda c: other, partial=True)(ctx()) == 0.5


def test_info_communicated():
    messages = [
        {"role": "user", "content": "refund?"},
        {"role": "assistant", "content": "Your refund of $1,234.50 goes to card ending 4421."},
    ]
    c = ctx(messages=messages, metadata={"required_info": [1234.5, "card ending 4421", "5 business days"]})
    assert info_communicated()(c) == pytest.approx(2 / 3)
    assert info_communicated(required=lambda c: ["CARD ENDING 4421"])(c) == 1.0
    assert info_communicated(roles=("user",))(c) == 0.0
    assert info_communicated()(ctx(messages=messages)) == 1.0  # nothing required


# ----- envs -----


def test_math_env_scores_through_its_rubric():
    env = gymnasium.make("rftgym/MathTools-v0").unwrapped
    assert isinstance(env.rubric, Rubric)
    assert {t.name for t in env.rubric.terms()} == {"invalid_tool_calls", "format_violation", "answer_correct"}
    env.reset(options={"task": "math-test-00000"})
    _, reward, terminated, _, info = env.step({"role": "assistant", "content": f"#### {env.task.answer}"})
    assert terminated and reward == 1.0
    assert info["reward_components"] == {"invalid_tool_calls": 0.0, "format_violation": 0.0}
    assert info["outcome_components"] == {"answer_correct": 1.0}


class GatedEnv(ChatEnv):
    """An env with a rubric: a format gate over the outcome."""

    rubric = Rubric(
        [
            RewardTerm("tagged", has_tags("answer"), weight=0.0, scope="outcome", gate=True),
            RewardTerm("correct", exact_match(), scope="outcome"),
            RewardTerm("long", length_penalty(20), weight=-1.0),
        ]
    )

    def tasks(self, split="train", num_tasks=None):
        return [Task(id="g", split=split, prompt="Say yes in tags", answer="<answer>yes</answer>")]

    def react(self, message, results):
        return [], "answered"


def test_chat_env_with_a_rubric_reports_components_by_scope():
    env = GatedEnv()
    env.reset(options={"task": "g"})
    _, reward, _, _, info = env.step({"role": "assistant", "content": "<answer>yes</answer>"})
    assert reward == 1.0 and info["reward_components"] == {"long": 0.0}
    assert info["outcome_components"] == {"tagged": 1.0, "correct": 1.0} and info["outcome_reward"] == 1.0
    env.reset(options={"task": "g"})
    _, reward, _, _, info = env.step({"role": "assistant", "content": "yes"})
    assert reward == 0.0 and info["outcome_components"] == {"tagged": 0.0, "correct": 0.0}
