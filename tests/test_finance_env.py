"""rftgym/Finance-v0: a bundled ledger, lookups and a calculator, numeric answers."""

import gymnasium
import pytest

import rftgym
from rftgym.envs.finance import FinanceEnv, ledger, make_task, statement
from rftgym.types import assistant_message, tool_call

FINANCE = "rftgym/Finance-v0"


def test_ledgers_are_fixed_per_split_and_questions_cover_every_kind():
    assert ledger("test") == ledger("test") and ledger("test") != ledger("train")
    env = FinanceEnv()
    test = env.tasks("test")
    assert len(test) == 100 and {t.metadata["kind"] for t in test} == {"balance", "spend", "change"}
    assert env.task_by_id(test[5].id) == test[5] == make_task("test", 5)
    with pytest.raises(KeyError):
        env.task_by_id("finance-test-00100")


def test_a_balance_is_the_next_month_opening():
    task = next(t for t in FinanceEnv().tasks("test") if t.metadata["kind"] == "balance" and "December" not in t.prompt)
    account, month = task.solution[1][1]["account_id"], int(task.solution[1][1]["month"][5:])
    assert float(task.answer) == pytest.approx(statement("test", account, month + 1)[0], abs=0.005)


def test_a_formatted_final_answer_counts_and_a_bad_tool_call_costs():
    task = FinanceEnv().tasks("test", 1)[0]
    env = gymnasium.make(FINANCE).unwrapped
    env.reset(options={"task": task.id})
    _, reward, _, _, info = env.step(assistant_message(None, [tool_call("list_transactions", {"account_id": "X"})]))
    assert reward == pytest.approx(-0.1) and info["tool_errors"]
    _, reward, terminated, _, info = env.step(assistant_message(f"The answer is ${float(task.answer):,.2f}."))
    assert terminated and info["outcome_components"] == {"answer_correct": 1.0}


def test_oracle_scores_one_and_noop_scores_zero(tmp_path):
    oracle, noop = tmp_path / "oracle.jsonl", tmp_path / "noop.jsonl"
    rftgym.rollout(FINANCE, rftgym.OraclePolicy(FinanceEnv().oracle_action), oracle, progress=False)
    rftgym.rollout(FINANCE, rftgym.NoopPolicy(), noop, num_tasks=5, progress=False)
    assert all(t.reward == 1.0 and t.error is None for t in rftgym.read_trajectories(oracle))
    assert all(t.reward == 0.0 and t.error is None for t in rftgym.read_trajectories(noop))
