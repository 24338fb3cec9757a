"""rftgym/MathTools-v0: problem generation, the tools, malformed calls, rewards and the oracle."""

import json
import os
import subprocess
import sys
from decimal import Decimal

import gymnasium
import pytest

import rftgym.envs  # noqa: F401  (registers the envs)
from rftgym.envs.math import MathToolsEnv, problems
from rftgym.envs.math.calculator import calculate
from rftgym.rewards import normalize_number


def call(name: str, arguments, call_id: str = "call_x") -> dict:
    """One tool call; ``arguments`` is sent as given when a string, else as JSON."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def calls(*tool_calls: dict) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": list(tool_calls)}


def say(text: str) -> dict:
    return {"role": "assistant", "content": text}


@pytest.fixture
def env():
    env = MathToolsEnv()
    env.reset(options={"task": "math-test-00001"})
    return env


# ----- problem generation -----


def test_same_id_same_problem():
    assert problems.generate("train", 123) == problems.generate("train", 123)
    assert problems.generate("test", 42) == problems.generate("test", 42)
    assert problems.generate("train", 7, 3) == problems.generate("train", 7, 3)
    assert problems.generate("train", 1) != problems.generate("train", 2)


def test_problems_do_not_depend_on_the_process():
    code = (
        "from rftgym.envs.math import problems as p; "
        "print(p.generate('train', 4321).prompt, p.generate('test', 17).prompt)"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {f"{problems.generate('train', 4321).prompt} {problems.generate('test', 17).prompt}\n"}


def test_ids_and_metadata():
    task = problems.generate("test", 42)
    assert (task.id, task.split, task.metadata["difficulty"]) == ("math-test-00042", "test", 1)
    assert problems.generate("train", 12345).id == "math-train-12345"
    assert problems.generate("train", 7, 3).id == "math-train-00007-d3"
    assert problems.generate("train", 8, 3).id == "math-train-00008"  # 3 is index 8's own level
    assert problems.parse_task_id("math-train-00007-d3") == ("train", 7, 3)


def test_test_split_is_fixed_unique_and_disjoint_from_train():
    test = problems.fixed_test_tasks()
    assert len(test) == problems.TEST_SIZE
    assert [t.id for t in problems.fixed_test_tasks(5)] == [f"math-test-{i:05d}" for i in range(5)]
    test_texts = {t.prompt for t in test}
    assert len(test_texts) == len(test)
    train = [problems.generate("train", i) for i in range(2000)]
    train += [problems.generate("train", i, level) for i in range(300) for level in problems.LEVELS]
    assert not test_texts & {t.prompt for t in train}


def test_a_train_draw_that_hits_the_test_split_is_redrawn(monkeypatch):
    clash = problems.generate("train", 5)
    monkeypatch.setattr(problems, "_test_texts", lambda: frozenset({clash.prompt}))
    redrawn = problems.generate("train", 5)
    assert redrawn.id == clash.id and redrawn.prompt != clash.prompt


def test_cached_test_tasks_cannot_be_changed_by_callers():
    problems.generate("test", 3).solution.clear()
    problems.fixed_test_tasks(1)[0].metadata["difficulty"] = 99
    assert problems.generate("test", 3).solution and problems.generate("test", 0).metadata["difficulty"] == 1


@pytest.mark.parametrize(
    "args, error",
    [
        (("valid", 1), ValueError),
        (("train", -1), ValueError),
        (("train", 1, 4), ValueError),
        (("test", 300), IndexError),
        (("test", 0, 2), ValueError),
    ],
)
def test_bad_generate_arguments(args, error):
    with pytest.raises(error):
        problems.generate(*args)


def test_difficulty_sets_the_number_of_steps():
    for level, counts in ((1, {2}), (2, {3}), (3, {4, 5})):
        tasks = [problems.generate("train", i, level) for i in range(200)]
        assert {len(t.solution) for t in tasks} <= counts
        assert {t.metadata["difficulty"] for t in tasks} == {level}
    hard = [problems.generate("train", i, 3).prompt for i in range(200)]
    assert any("%" in text for text in hard) and any("$" in text and "." in text for text in hard)
    assert {t.metadata["difficulty"] for t in problems.fixed_test_tasks()} == {1, 2, 3}


def test_every_template_appears_with_varied_text():
    tasks = problems.fixed_test_tasks()
    assert {t.metadata["template"] for t in tasks} == set(problems.TEMPLATES)
    assert len({t.prompt.split()[0] for t in tasks}) > 20


def test_solutions_evaluate_to_clean_answers():
    tasks = problems.fixed_test_tasks() + [
        problems.generate("train", i, level) for i in range(400) for level in problems.LEVELS
    ]
    for task in tasks:
        for step in task.solution:
            assert calculate(step["expression"]) == step["result"], (task.id, step)
        assert task.solution[-1]["result"] == task.answer
        value = normalize_number(task.answer)
        assert value is not None and value >= 0 and value == value.quantize(Decimal("0.01")), task


# ----- the env -----


def test_make_and_tasks():
    env = gymnasium.make("rftgym/MathTools-v0").unwrapped
    assert isinstance(env, MathToolsEnv) and env.max_turns == 8
    assert len(env.tasks("test")) == 300 and len(env.tasks("test", 10)) == 10
    assert [t.id for t in env.tasks("train", 3)] == ["math-train-00000", "math-train-00001", "math-train-00002"]
    assert len(env.tasks("train")) == 1000
    with pytest.raises(ValueError):
        env.tasks("validation")


def test_difficulty_option_filters_tasks():
    env = MathToolsEnv(difficulty=2)
    assert {t.metadata["difficulty"] for t in env.tasks("test") + env.tasks("train", 30)} == {2}
    assert len(env.tasks("test")) == 100
    env.reset(seed=0)
    assert env.task.metadata["difficulty"] == 2
    with pytest.raises(ValueError):
        MathToolsEnv(difficulty=5)


def test_task_by_id_and_seeded_sampling():
    env = MathToolsEnv()
    assert env.task_by_id("math-train-00007-d3") == problems.generate("train", 7, 3)
    for bad in ("math-test-99999", "math-test-00001-d3", "gsm8k-1", "math-train-7x"):
        with pytest.raises(KeyError):
            env.task_by_id(bad)
    first = env.reset(seed=11)[1]["task_id"]
    assert env.reset(seed=11)[1]["task_id"] == first
    assert env.reset(seed=12)[1]["task_id"] != first


def test_reset_gives_system_prompt_problem_and_tools():
    env = MathToolsEnv()
    messages, info = env.reset(options={"task": "math-test-00000"})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "calculator" in messages[0]["content"] and "#### <number>" in messages[0]["content"]
    assert messages[1]["content"] == problems.generate("test", 0).prompt
    assert info["task_id"] == "math-test-00000" and info["split"] == "test"
    schemas = {s["function"]["name"]: s["function"] for s in info["tools"]}
    assert set(schemas) == {"calculator", "submit_answer"}
    assert schemas["calculator"]["parameters"]["required"] == ["expression"]
    assert schemas["submit_answer"]["parameters"]["properties"]["answer"]["type"] == ["string", "number"]


def test_calculator_turn_then_submission(env):
    obs, reward, terminated, truncated, info = env.step(calls(call("calculator", {"expression": "7 * 5"}, "call_1")))
    assert obs == [{"role": "tool", "tool_call_id": "call_1", "name": "calculator", "content": "35"}]
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["reward_components"] == {"invalid_tool_calls": 0.0, "format_violation": 0.0}
    assert info["tool_calls"] == 1 and info["tool_errors"] == {}
    obs, reward, terminated, truncated, info = env.step(calls(call("submit_answer", {"answer": "$675.00"})))
    assert "Answer submitted" in obs[0]["content"]
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["termination_reason"] == "submitted"
    assert info["outcome_components"] == {"answer_correct": 1.0} and info["outcome_reward"] == 1.0


def test_wrong_submission_scores_zero(env):
    _, reward, terminated, _, info = env.step(calls(call("submit_answer", {"answer": "674"})))
    assert terminated and reward == 0.0 and info["outcome_components"] == {"answer_correct": 0.0}


def test_final_text_answer(env):
    _, reward, terminated, truncated, info = env.step(say("35 hours * $20 = $700, minus $25.\n#### 675"))
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["termination_reason"] == "final_answer"
    assert info["reward_components"]["format_violation"] == 0.0


def test_final_text_without_a_number_is_a_format_violation(env):
    _, reward, terminated, _, info = env.step(say("I am not sure how to solve this."))
    assert terminated and info["termination_reason"] == "final_answer"
    assert info["reward_components"]["format_violation"] == 1.0
    assert info["outcome_components"] == {"answer_correct": 0.0}
    assert reward == pytest.approx(-0.05)


BAD_CALLS = [
    (call("calculator", '{"expression": "1 +'), "invalid_json", "not valid JSON"),
    (call("calculator", "[1, 2]"), "invalid_json", "must be a JSON object"),
    (call("python", {"code": "print(1)"}), "unknown_tool", "no tool named 'python'"),
    (call("calculator", {"expression": 5}), "invalid_arguments", "5 is not of type 'string'"),
    (call("calculator", {}), "invalid_arguments", "'expression' is a required property"),
    (call("calculator", {"expression": "1", "precision": 2}), "invalid_arguments", "precision"),
    (call("calculator", {"expression": "1 / 0"}), "tool_exception", "division by zero"),
    (call("calculator", {"expression": "x * 2"}), "tool_exception", "unsupported syntax: Name 'x'"),
    (call("submit_answer", {"answer": "I don't know"}), "tool_exception", "must contain a number"),
]


@pytest.mark.parametrize("bad, kind, text", BAD_CALLS, ids=[f"{kind}-{i}" for i, (_, kind, _) in enumerate(BAD_CALLS)])
def test_malformed_tool_call_is_reported_and_the_episode_goes_on(env, bad, kind, text):
    obs, reward, terminated, truncated, info = env.step(calls(bad))
    assert len(obs) == 1 and obs[0]["role"] == "tool" and obs[0]["tool_call_id"] == "call_x"
    assert obs[0]["content"].startswith("Error: ") and text in obs[0]["content"]
    assert info["tool_errors"] == {kind: 1}
    assert info["reward_components"] == {"invalid_tool_calls": 1.0, "format_violation": 0.0}
    assert reward == pytest.approx(-0.1)
    assert not terminated and not truncated and "termination_reason" not in info
    _, reward, terminated, _, info = env.step(calls(call("submit_answer", {"answer": "675"})))
    assert terminated and info["termination_reason"] == "submitted" and reward == 1.0


def test_several_calls_in_one_turn_are_counted_by_kind(env):
    turn = calls(
        call("calculator", {"expression": "7 * 5"}, "a"),
        call("calculator", "{", "b"),
        call("nope", {}, "c"),
        call("calculator", {"expression": "2 ** 0.5 / 0"}, "d"),
    )
    obs, reward, _, _, info = env.step(turn)
    assert [m["tool_call_id"] for m in obs] == ["a", "b", "c", "d"]
    assert obs[0]["content"] == "35"
    assert info["tool_calls"] == 4
    assert info["tool_errors"] == {"invalid_json": 1, "unknown_tool": 1, "tool_exception": 1}
    assert info["reward_components"]["invalid_tool_calls"] == 3.0 and reward == pytest.approx(-0.3)


def test_only_the_first_submission_counts(env):
    turn = calls(call("submit_answer", {"answer": "675"}, "a"), call("submit_answer", {"answer": "1"}, "b"))
    obs, reward, terminated, _, info = env.step(turn)
    assert "already submitted" in obs[1]["content"] and info["tool_errors"] == {"tool_exception": 1}
    assert terminated and info["outcome_components"] == {"answer_correct": 1.0}
    assert reward == pytest.approx(0.9)


def test_truncation_after_max_turns():
    env = MathToolsEnv(max_turns=2)
    env.reset(options={"task": "math-test-00001"})
    _, _, terminated, truncated, info = env.step(calls(call("calculator", {"expression": "7 * 5"})))
    assert not terminated and not truncated and "outcome_components" not in info
    _, reward, terminated, truncated, info = env.step(calls(call("calculator", {"expression": "35 * 20"})))
    assert truncated is True and terminated is False
    assert info["termination_reason"] == "max_turns"
    assert info["outcome_components"] == {"answer_correct": 0.0} and reward == 0.0


def test_render_ansi():
    env = MathToolsEnv(render_mode="ansi")
    env.reset(options={"task": "math-test-00001"})
    env.step(calls(call("calculator", {"expression": "7 * 5"})))
    text = env.render()
    assert isinstance(text, str)
    assert "[user]" in text and "calculator" in text and "[tool] 35" in text
    assert MathToolsEnv().render() is None


def run_oracle(env: MathToolsEnv, task_id: str) -> tuple[float, dict, list[dict]]:
    env.reset(options={"task": task_id})
    total, actions = 0.0, []
    while True:
        actions.append(env.oracle_action(env.task, env.messages))
        _, reward, terminated, truncated, info = env.step(actions[-1])
        total += reward
        if terminated or truncated:
            return total, info, actions


def test_oracle_plays_the_solution_step_by_step():
    env = MathToolsEnv()
    task = problems.generate("test", 5)
    total, info, actions = run_oracle(env, task.id)
    assert [json.loads(a["tool_calls"][0]["function"]["arguments"]) for a in actions] == (
        [{"expression": s["expression"]} for s in task.solution] + [{"answer": task.answer}]
    )
    assert [a["tool_calls"][0]["id"] for a in actions] == [f"call_{i}" for i in range(len(actions))]
    assert total == 1.0 and info["termination_reason"] == "submitted"


def test_oracle_solves_every_test_task_and_train_tasks():
    env = MathToolsEnv()
    ids = [t.id for t in env.tasks("test")] + [t.id for t in env.tasks("train", 200)]
    ids += [problems.task_id("train", i, 3) for i in range(1000, 1050)]
    for task_id in ids:
        total, info, _ = run_oracle(env, task_id)
        assert (total, info["outcome_components"]) == (1.0, {"answer_correct": 1.0}), task_id


def test_oracle_resumes_after_a_failed_calculator_call(env):
    env.step(calls(call("calculator", {"expression": "1 / 0"})))
    first = json.loads(env.oracle_action(env.task, env.messages)["tool_calls"][0]["function"]["arguments"])
    assert first == {"expression": env.task.solution[0]["expression"]}


def test_episode_is_reproducible_under_a_seed():
    def play(seed: int) -> str:
        env = MathToolsEnv(render_mode="ansi")
        env.reset(seed=seed)
        while not env.step(env.oracle_action(env.task, env.messages))[2]:
            pass
        return env.render()

    assert play(3) == play(3) != play(4)


def test_actions_that_are_not_messages_are_refused(env):
    with pytest.raises(ValueError, match="invalid action"):
        env.step({"role": "user", "content": "hi"})
