"""rftgym/Extraction-v0: generated documents, schema validity and field-by-field accuracy."""

import json

import gymnasium
import pytest

import rftgym
from rftgym.envs.extraction import ExtractionEnv, make_task

EXTRACTION = "rftgym/Extraction-v0"


def test_tasks_are_reproducible_and_both_kinds_occur():
    env = ExtractionEnv()
    test = env.tasks("test")
    assert len(test) == 100 and test == env.tasks("test") and env.task_by_id(test[7].id) == test[7]
    assert {t.metadata["kind"] for t in test} == {"invoice", "contact"}
    assert make_task("train", 3) != make_task("test", 3)
    with pytest.raises(KeyError):
        env.task_by_id("extract-test-00100")


def score(task_id, reply):
    env = gymnasium.make(EXTRACTION).unwrapped
    env.reset(options={"task": task_id})
    *_, info = env.step({"role": "assistant", "content": reply})
    return info["outcome_reward"], info["outcome_components"]


def invoice_task():
    return next(t for t in ExtractionEnv().tasks("test") if t.metadata["kind"] == "invoice")


def test_a_fenced_answer_with_one_wrong_field_loses_that_field_only():
    task = invoice_task()
    answer = dict(task.answer, vendor="Someone Else", customer=task.answer["customer"].upper())
    reward, components = score(task.id, "Here you go:\n```json\n" + json.dumps(answer) + "\n```")
    assert components == {"schema_valid": 1.0, "field_accuracy": pytest.approx(6 / 7)}
    assert reward == pytest.approx(0.2 + 0.8 * 6 / 7)


def test_a_wrong_date_format_breaks_the_schema_and_the_field():
    task = invoice_task()
    reward, components = score(task.id, json.dumps(dict(task.answer, issue_date="March 1, 2024")))
    assert components == {"schema_valid": 0.0, "field_accuracy": pytest.approx(6 / 7)}


def test_oracle_scores_one_and_noop_scores_zero(tmp_path):
    oracle, noop = tmp_path / "oracle.jsonl", tmp_path / "noop.jsonl"
    rftgym.rollout(EXTRACTION, rftgym.OraclePolicy(ExtractionEnv().oracle_action), oracle, progress=False)
    rftgym.rollout(EXTRACTION, rftgym.NoopPolicy(), noop, num_tasks=5, progress=False)
    assert all(t.reward == 1.0 and t.error is None for t in rftgym.read_trajectories(oracle))
    assert all(t.reward == 0.0 and t.error is None for t in rftgym.read_trajectories(noop))
