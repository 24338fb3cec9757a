"""The customer-service envs through the real rollout loop: the oracle over HTTP scores 1.0 on every
test task, doing nothing scores 0, the linter passes, an LLM customer over HTTP, compliance penalties,
copy-on-write databases."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium
import pytest
from conftest import OracleResponder, oracle_policy, read_lines

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.cli import main
from rftgym.envs.customer_service.db import fingerprint
from rftgym.envs.customer_service.lint import lint_task
from rftgym.envs.customer_service.scenarios import TaskSuite
from rftgym.envs.customer_service.users import GIVE_UP, STOP, ScriptedCustomer, communicates, is_affirmative
from rftgym.types import Message, assistant_message, tool_call

DOMAINS = ["rftgym/Retail-v0", "rftgym/Airline-v0"]
RETAIL = "rftgym/Retail-v0"


def make(env_id: str = RETAIL, **kwargs):
    return gymnasium.make(env_id, **kwargs).unwrapped


def calls(*pairs: tuple[str, dict]) -> Message:
    return assistant_message(None, [tool_call(name, arguments, f"c{i}") for i, (name, arguments) in enumerate(pairs)])


@pytest.mark.parametrize(("env_id", "concurrency"), [(RETAIL, 256), ("rftgym/Airline-v0", 32)])
def test_oracle_over_http_scores_one_on_every_test_task(tmp_path, env_id, concurrency):
    out = tmp_path / "oracle.jsonl"
    tasks = make(env_id).tasks("test")
    group = max(2, -(-concurrency // len(tasks)))  # enough episodes to keep `concurrency` running at once
    with ScriptedServer(respond=OracleResponder(env_id)) as server:
        # No token ids: the byte-level ids of a prompt carrying the policy document would dominate the run.
        policy = rftgym.ChatPolicy(server.base_url, "scripted", timeout=60, request_token_data=False)
        result = rftgym.rollout(env_id, policy, out, group_size=group, concurrency=concurrency, progress=False)
    lines = read_lines(out)
    assert result.errors == 0 and len(lines) == len(tasks) * group >= concurrency
    assert {line["task_id"] for line in lines} == {t.id for t in tasks}
    for line in lines:
        assert line["error"] is None and line["terminated"], line["task_id"]
        assert line["termination_reason"] in ("user_stop", "transfer_to_human")
        assert line["reward"] == pytest.approx(1.0), line["task_id"]
        assert line["outcome_components"] == {"db_match": 1.0, "outputs_communicated": 1.0, "task_success": 1.0}
        for turn in line["turns"]:
            assert set(turn["reward_components"]) == {
                "invalid_tool_calls",
                "unauthenticated_action",
                "unconfirmed_write",
                "forbidden_action",
            }
    summary = rftgym.summarize(rftgym.read_trajectories(out))
    assert summary["pass_hat_k"]["2"]["mean"] == summary["pass_at_k"]["1"]["mean"] == 1.0


@pytest.mark.parametrize("env_id", DOMAINS)
def test_noop_scores_zero_on_every_test_task(tmp_path, env_id):
    out = tmp_path / "noop.jsonl"
    rftgym.rollout(env_id, rftgym.NoopPolicy(), out, concurrency=16, progress=False)
    lines = read_lines(out)
    kinds = {t.id: t.metadata["kind"] for t in make(env_id).tasks("test")}
    assert len(lines) == len(kinds) and {"write", "read", "refusal", "transfer"} <= set(kinds.values())
    for line in lines:
        assert line["error"] is None and line["reward"] == 0.0, line["task_id"]
        if kinds[line["task_id"]] in ("write", "transfer"):
            assert line["outcome_components"]["db_match"] == 0.0
        else:  # nothing to write: the missing outputs make it fail
            assert line["outcome_components"]["outputs_communicated"] == 0.0


@pytest.mark.parametrize("env_id", DOMAINS)
def test_linter_passes_and_the_cli_says_so(env_id, capsys):
    assert main(["envs", "lint", env_id, "--num-train", "200"]) == 0
    assert "0 problems" in capsys.readouterr().err
    kinds = Counter(t.metadata["kind"] for t in make(env_id).tasks("test"))
    assert sum(kinds.values()) >= (100 if "Retail" in env_id else 50)


def test_linter_catches_broken_tasks():
    env = make()
    task = env.tasks("test")[0]
    write = next(t for t in env.tasks("test") if t.metadata["template"] == "cancel_pending")
    write.solution = write.solution[:-1]  # the write is gone: doing nothing would score 1
    assert any("leaves the database unchanged" in p for p in lint_task(env, write))
    task.solution = [{"name": "cancel_pending_order", "arguments": {"order_id": "#W0", "reason": "no longer needed"}}]
    problems = lint_task(env, task)
    assert any("fails" in p and "not found" in p for p in problems)
    assert any("before the customer was authenticated" in p for p in problems)
    refusal = next(t for t in env.tasks("test") if t.metadata["kind"] == "refusal")
    refusal.answer = refusal.answer[1:]
    assert any("refusal to be said" in p for p in lint_task(env, refusal))


def test_envs_still_lists_the_envs(capsys):
    assert main(["envs"]) == 0
    assert RETAIL in capsys.readouterr().out


def test_compliance_penalties_are_named_per_turn():
    env = make()
    task = next(t for t in env.tasks("test") if t.metadata["template"] == "cancel_pending")
    order = task.solution[-1]["arguments"]["order_id"]
    env.reset(options={"task": task})
    # Before authenticating: the look-up is unauthenticated.
    _, reward, *_, info = env.step(calls(("get_order_details", {"order_id": order})))
    assert info["reward_components"]["unauthenticated_action"] == 1.0 and reward == pytest.approx(-0.1)
    auth = task.solution[0]
    env.step(calls((auth["name"], auth["arguments"])))
    # Another customer's order is forbidden; a write without a "yes" is unconfirmed.
    other = next(o for o, rec in env.db.base["orders"].items() if rec["user_id"] != env.user_id)
    *_, info = env.step(
        calls(
            ("get_order_details", {"order_id": other}),
            ("cancel_pending_order", {"order_id": order, "reason": "no longer needed"}),
        )
    )
    components = info["reward_components"]
    assert components["forbidden_action"] == 1.0 and components["unconfirmed_write"] == 1.0
    assert any("another customer" in v for v in info["policy_violations"])
    *_, info = env.step(
        calls(("cancel_pending_order", {"order_id": "#W0", "reason": "no longer needed"}), ("nope", {}))
    )
    assert info["reward_components"]["invalid_tool_calls"] == 2.0


def test_confirmed_write_is_clean_and_the_outcome_diff_is_readable():
    env = make()
    task = next(t for t in env.tasks("test") if t.metadata["template"] == "cancel_pending")
    order = task.solution[-1]["arguments"]["order_id"]
    env.reset(options={"task": task})
    auth = task.solution[0]
    env.step(calls((auth["name"], auth["arguments"])))
    obs, *_ = env.step(
        assistant_message(f"I will cancel order {order} because you no longer need it. Do you confirm (yes/no)?")
    )
    assert obs[-1]["role"] == "user"
    # The wrong reason: the write is confirmed and allowed, but the end state differs.
    _, reward, *_, info = env.step(calls(("cancel_pending_order", {"order_id": order, "reason": "ordered by mistake"})))
    assert reward == 0.0 and info["policy_violations"] == []
    obs, reward, terminated, truncated, info = env.step(assistant_message("Your order is cancelled."))
    assert terminated and info["termination_reason"] == "user_stop" and STOP in obs[-1]["content"]
    assert info["outcome_components"] == {"db_match": 0.0, "outputs_communicated": 1.0, "task_success": 0.0}
    assert info["db_diff"] == [f'orders/{order}.cancel_reason: expected "no longer needed", got "ordered by mistake"']


def test_episodes_share_the_base_database_copy_on_write():
    a, b = make(), make()
    task = next(t for t in a.tasks("test") if t.metadata["kind"] == "write")
    base = a.suite.base(task.metadata["db_seed"])
    before = fingerprint(base)
    a.reset(options={"task": task})
    b.reset(options={"task": task})
    assert a.db.base is b.db.base is base
    for _ in range(10):
        a.step(a.oracle_action(a.task, a.messages))
    assert a.db.changed_keys() and not b.db.changed_keys()
    assert fingerprint(base) == before, "episodes never change the shared base"


def test_turn_budget_truncates():
    env = make(max_turns=2)
    env.reset(options={"task": env.tasks("test")[0]})
    env.step(calls(("list_all_product_types", {})))
    *_, terminated, truncated, info = env.step(calls(("list_all_product_types", {})))
    assert truncated and not terminated and info["termination_reason"] == "max_turns"


def test_a_changed_generator_fails_the_fixed_test_split():
    env = make()
    suite = env.suite
    changed = TaskSuite(
        suite.domain,
        lambda seed: {**suite.generate_db(seed), "extra": {}},
        suite.templates,
        suite.test_file,
        suite.version,
    )
    with pytest.raises(RuntimeError, match="generator changed"):
        changed.test_tasks()


def test_train_split_is_seeded_and_unbounded():
    env = make()
    assert env.task_by_id("retail-train-12345").to_dict() == env.suite.train_task(12345).to_dict()
    assert env.tasks("train", 3)[2].id == "retail-train-00002"
    test_customers = {t.metadata["identity"] for t in env.tasks("test")}
    assert not test_customers & {t.metadata["identity"] for t in env.tasks("train", 300)}
    with pytest.raises(KeyError):
        env.task_by_id("retail-test-v9-0000")


# ----- the LLM customer -----


def customer(request: dict) -> dict:
    """An OpenAI-compatible customer model: identifies, confirms, then stops."""
    agent = request["messages"][-1]["content"]
    system = request["messages"][0]["content"]
    identity = system.split("If the agent asks you to identify yourself, say: ")[1].split("\n")[0]
    if "confirm" in agent:
        return {"role": "assistant", "content": "Yes, that's right."}
    if "identity" in agent or "user ID" in agent:
        return {"role": "assistant", "content": identity}
    return {"role": "assistant", "content": f"Thanks! {STOP}"}


@pytest.mark.parametrize("env_id", DOMAINS)
def test_llm_customer_over_http(tmp_path, env_id):
    out = tmp_path / "llm.jsonl"
    task = next(t for t in make(env_id).tasks("test") if t.metadata["kind"] == "write")
    with ScriptedServer(respond=customer) as server:
        rftgym.rollout(
            env_id,
            oracle_policy(env_id),
            out,
            task_ids=[task.id],
            progress=False,
            env_kwargs={"user_base_url": server.base_url, "user_model": "customer"},
        )
        seen = list(server.request_log)
    [line] = read_lines(out)
    assert line["error"] is None and line["termination_reason"] == "user_stop" and line["reward"] == 1.0
    assert line["messages"][-1] == {"role": "user", "content": f"Thanks! {STOP}"}
    assert seen and all(r["model"] == "customer" for r in seen)
    system = seen[-1]["messages"][0]
    assert system["role"] == "system" and task.metadata["instructions"] in system["content"]
    roles = {m["role"] for r in seen for m in r["messages"]}
    assert roles == {"system", "user", "assistant"}, "the customer never sees tool calls or results"


@pytest.mark.parametrize(
    ("fault", "respond", "message"),
    [
        ("400", customer, "customer endpoint failed"),
        ("ok", lambda request: {"role": "assistant", "content": "Hello! How can I help you today?"}, "broke role"),
    ],
)
def test_llm_customer_failures_are_recorded_as_the_simulator_s(tmp_path, fault, respond, message):
    out = tmp_path / "broken.jsonl"
    with ScriptedServer(respond=respond, fault_script=[fault] * 5) as server:
        rftgym.rollout(
            RETAIL,
            oracle_policy(RETAIL),
            out,
            num_tasks=1,
            progress=False,
            env_kwargs={"user_base_url": server.base_url, "user_model": "customer"},
        )
    [line] = read_lines(out)
    assert line["error"]["type"] == "UserSimulatorError" and message in line["error"]["message"]


def test_llm_customer_needs_a_model():
    with pytest.raises(ValueError, match="user_model"):
        make(user_base_url="http://127.0.0.1:1/v1")


def test_cli_rollout_with_an_llm_customer_and_stats_per_domain(tmp_path, capsys):
    retail, airline = tmp_path / "retail.jsonl", tmp_path / "airline.jsonl"
    with ScriptedServer(respond=customer) as server:
        assert (
            main(
                [
                    "rollout",
                    RETAIL,
                    "--policy",
                    "oracle",
                    "--num-tasks",
                    "3",
                    "--group-size",
                    "2",
                    "--no-progress",
                    "--user-base-url",
                    server.base_url,
                    "--user-model",
                    "customer",
                    "--out",
                    str(retail),
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "rollout",
                "rftgym/Airline-v0",
                "--policy",
                "noop",
                "--num-tasks",
                "3",
                "--group-size",
                "2",
                "--no-progress",
                "--out",
                str(airline),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["stats", str(retail), str(airline), "--json"]) == 0
    by_env = json.loads(capsys.readouterr().out)["by_env"]
    assert by_env[RETAIL]["pass_hat_k"]["2"]["mean"] == by_env[RETAIL]["pass_at_k"]["1"]["mean"] == 1.0
    assert by_env["rftgym/Airline-v0"]["pass_at_k"]["2"]["mean"] == 0.0


@pytest.mark.parametrize(
    ("template", "write_call"),
    [
        ("refuse_cancel", lambda r: ("cancel_reservation", {"reservation_id": r})),
        (
            "refuse_change_basic",
            lambda r: (
                "update_reservation_baggages",
                {"reservation_id": r, "total_baggages": 9, "nonfree_baggages": 0, "payment_method_id": "x"},
            ),
        ),
    ],
)
def test_airline_policy_rules_the_tools_do_not_enforce(template, write_call):
    env = make("rftgym/Airline-v0")
    task = next(t for t in env.tasks("test") if t.metadata["template"] == template)
    reservation = task.solution[1]["arguments"]["reservation_id"]
    env.reset(options={"task": task})
    env.step(calls(("get_user_details", task.solution[0]["arguments"])))
    env.step(assistant_message("Shall I go ahead with that? Please answer yes or no."))
    name, arguments = write_call(reservation)
    *_, info = env.step(calls((name, arguments)))
    assert info["reward_components"]["forbidden_action"] == 1.0 and info["reward_components"]["unconfirmed_write"] == 0
    assert len(info["policy_violations"]) == 1
    *_, info = env.step(assistant_message("Done."))
    assert info["outcome_reward"] == 0.0


def test_scripted_customer_answers_like_a_customer():
    task = make().tasks("test")[0]
    task.metadata["persona"] = "terse"
    customer = ScriptedCustomer(task)
    assert customer.reply("Please confirm your email address so I can verify you.") == task.metadata["identity"]
    assert customer.reply("I'll ship it to zip 97214. Shall I proceed?") == "yes"
    assert customer.reply("Which option would you prefer?") == task.prompt, "restates its request"
    assert customer.reply("What is your email?") == task.metadata["identity"]
    assert customer.reply("It's done. Is there anything else I can help you with?").endswith(STOP)
    assert customer.reply("Your order is on its way.").endswith(STOP)
    assert is_affirmative("Yes, please go ahead.") and not is_affirmative("No, don't do that.")


@pytest.mark.parametrize("garbage", ["", "   ", "!!! ???", "xkcd qwrt zzz", "\ufffd\ufffd 42"])
def test_the_scripted_customer_does_not_leave_satisfied_after_a_reply_that_says_nothing(garbage):
    task = make().tasks("test")[0]
    customer = ScriptedCustomer(task)
    again = customer.reply(garbage)
    assert STOP not in again and task.prompt in again  # it asks again
    assert customer.reply("Could you tell me your email?") == customer.identify  # a real reply resets it
    assert STOP not in customer.reply(garbage)
    assert customer.reply(garbage) == GIVE_UP and customer.satisfied is False
    assert not communicates(garbage) and communicates("Done.") and communicates("Ваш заказ отменён")


def test_an_agent_that_says_nothing_communicates_nothing():
    """Even on a task that requires no strings to be said, replies that communicate nothing score
    ``outputs_communicated`` 0 and the customer leaves unsatisfied on the second one."""
    env = make()
    task = next(t for t in env.tasks("test") if t.metadata["kind"] == "write" and not t.answer)
    env.reset(options={"task": task})
    obs, _, terminated, _, _ = env.step(assistant_message("..."))
    assert not terminated and obs[-1]["content"].startswith("Sorry, I didn't understand")
    obs, _, terminated, _, info = env.step(assistant_message("zzz"))
    assert terminated and obs[-1]["content"] == GIVE_UP and info["termination_reason"] == "user_stop"
    assert info["outcome_components"]["outputs_communicated"] == 0.0 and info["outcome_reward"] == 0.0
