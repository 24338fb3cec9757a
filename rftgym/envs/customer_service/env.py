"""The customer-service env: an agent, a simulated customer and a database, under a written policy.

A domain (retail, airline) subclasses :class:`CustomerServiceEnv` with its tools, its policy
document, its task suite and its policy checks. One episode:

* ``reset`` gives the system prompt (the policy document) and the customer's opening request. The
  episode gets its own copy-on-write view of the task's database.
* each ``step`` runs the agent's tool calls; a turn without tool calls is said to the customer,
  whose reply is the next observation. The episode ends when the customer's reply carries
  :data:`~rftgym.envs.customer_service.users.STOP` (``user_stop``), on a transfer to a human
  (``transfer_to_human``), or when ``max_turns`` run out (truncated, ``max_turns``).

Tools are declared with :func:`read` or :func:`write` instead of ``@tool``: every call is audited
before it runs, for the per-turn policy-compliance components (see :mod:`.rewards`). Every domain
has ``transfer_to_human_agents`` (declared here) and a ``transfers`` table for it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rftgym.envs.core import ChatEnv
from rftgym.envs.customer_service import rewards
from rftgym.envs.customer_service.db import Database, diff
from rftgym.envs.customer_service.scenarios import TaskSuite, missing_outputs
from rftgym.envs.customer_service.users import STOP, Customer, LLMCustomer, ScriptedCustomer, is_affirmative
from rftgym.envs.tasks import Task
from rftgym.envs.tools import ToolResult, tool
from rftgym.rewards.rubric import message_text

# How many train tasks ``reset()`` without a task draws from (ids stay five digits).
TRAIN_POOL = 100_000
# Reference end states kept per process (one small overlay per task).
_REFERENCES: dict[tuple, Database] = {}
_MAX_REFERENCES = 20_000


def read(fn: Callable | None = None, *, auth: bool = True) -> Callable:
    """Declare a tool that only reads. ``auth=False``: it needs no authenticated customer
    (catalogue look-ups, and the look-ups that authenticate)."""
    return _declare(fn, kind="read", auth=auth, confirm=False)


def write(fn: Callable | None = None, *, confirm: bool = True) -> Callable:
    """Declare a tool that changes the database. ``confirm=False``: it needs no explicit
    confirmation from the customer first (a transfer to a human)."""
    return _declare(fn, kind="write", auth=True, confirm=confirm)


def _declare(fn: Callable | None, **tags: Any) -> Callable:
    if fn is None:
        return functools.partial(_declare, **tags)

    @functools.wraps(fn)
    def audited(self: CustomerServiceEnv, **arguments: Any) -> Any:
        self.audit(fn.__name__, arguments, **tags)
        return fn(self, **arguments)

    audited.tags = tags
    return tool(audited)


class CustomerServiceEnv(ChatEnv):
    """Base of the customer-service domains (see the module docstring). Not registered itself."""

    splits = ("train", "test")
    rubric = rewards.RUBRIC
    #: Set by each domain.
    suite: ClassVar[TaskSuite]
    policy_file: ClassVar[Path]
    company: ClassVar[str]
    #: The reference solution's first message: asking the customer to identify.
    auth_question: ClassVar[str]

    def __init__(
        self,
        max_turns: int = 30,
        user_base_url: str | None = None,
        user_model: str | None = None,
        user_api_key: str = "EMPTY",
        user_temperature: float = 0.0,
        user_timeout: float = 60.0,
        render_mode: str | None = None,
    ):
        """Args:
        max_turns: Assistant turns before the episode is truncated.
        user_base_url: An OpenAI-compatible endpoint for an LLM customer; None (the default)
            plays the scripted customer, which needs no model.
        user_model: The customer's model name (required with ``user_base_url``).
        user_api_key: API key of the customer's endpoint.
        user_temperature: Sampling temperature of the LLM customer.
        user_timeout: Seconds one customer request may take (the client retries twice within it).
        render_mode: ``None`` or ``"ansi"``.
        """
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.user_client, self.user_model, self.user_temperature = None, user_model, user_temperature
        if user_base_url:
            if not user_model:
                raise ValueError("an LLM customer needs user_model as well as user_base_url")
            import openai

            self.user_client = openai.OpenAI(
                base_url=user_base_url, api_key=user_api_key, timeout=user_timeout, max_retries=2
            )
        self.policy = self.policy_file.read_text()
        self.write_tools = {name for name, t in self.toolbox.tools.items() if t.fn.tags["kind"] == "write"}
        self.db: Database | None = None
        self.expected: Database | None = None
        self.customer: Customer | None = None
        self.user_id: str | None = None  # the authenticated customer
        self.confirmed = False  # the customer's last message explicitly agreed
        self.transferred = False
        self.counts: dict[str, int] = {}  # this turn's compliance counts, by component
        self.violations: list[str] = []  # every compliance problem of the episode, readable
        self._verdict: dict[str, list] | None = None

    # ----- hooks of a domain -----

    def policy_violation(self, name: str, arguments: dict) -> str | None:
        """The rule of the policy that calling tool ``name`` with ``arguments`` now breaks, or None.
        Called before the tool runs, for rules the tool itself does not enforce."""
        return None

    # ----- tasks -----

    def lint(self, num_train: int = 100) -> tuple[int, list[str]]:
        """Check the test split and the first ``num_train`` train tasks with the task linter
        (:mod:`rftgym.envs.customer_service.lint`): how many tasks were checked, and the problems."""
        from rftgym.envs.customer_service.lint import lint_tasks

        test, train = self.tasks("test"), self.tasks("train", num_train)
        return len(test) + len(train), lint_tasks(self, test) + lint_tasks(self, train, unique=False)

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """``test``: the fixed, versioned test split; ``train``: the first ``num_tasks`` (default
        1000) tasks of the unbounded train split."""
        if split == "test":
            return self.suite.test_tasks()[:num_tasks]
        if split == "train":
            return [self.suite.train_task(i) for i in range(1000 if num_tasks is None else num_tasks)]
        raise ValueError(f"unknown split {split!r}; {type(self).__name__} has {list(self.splits)}")

    def task_by_id(self, task_id: str) -> Task:
        """A test task by id, or a train task (``retail-train-00042``) generated directly."""
        prefix = f"{self.suite.domain}-train-"
        if task_id.startswith(prefix) and task_id[len(prefix) :].isdigit():
            return self.suite.train_task(int(task_id[len(prefix) :]))
        for task in self.suite.test_tasks():
            if task.id == task_id:
                return task
        raise KeyError(f"{type(self).__name__} has no task {task_id!r}")

    def sample_task(self) -> Task:
        """A train task drawn with the env's seeded RNG."""
        return self.suite.train_task(int(self.np_random.integers(TRAIN_POOL)))

    # ----- episode -----

    def system_prompt(self, task: Task) -> str:
        return self.policy

    def setup(self, task: Task) -> None:
        self.expected = self.reference(task)
        self._start(task)
        self.confirmed = False
        self.customer = (
            ScriptedCustomer(task)
            if self.user_client is None
            else LLMCustomer(self.user_client, self.user_model, task, self.company, self.user_temperature)
        )

    def _start(self, task: Task) -> None:
        """Fresh episode state over the task's database."""
        self.db = Database(self.suite.base(task.metadata["db_seed"]))
        self.user_id, self.transferred = None, False
        self.counts = dict.fromkeys(rewards.COMPLIANCE, 0)
        self.violations, self._verdict = [], None

    def reference(self, task: Task) -> Database:
        """The database after the task's reference actions: replayed once per task, then cached."""
        key = (type(self).__name__, task.id, task.metadata["db_seed"], json.dumps(task.solution, sort_keys=True))
        expected = _REFERENCES.get(key)
        if expected is None:
            expected = self.replay(task)[0]
            if len(_REFERENCES) >= _MAX_REFERENCES:
                _REFERENCES.clear()
            _REFERENCES[key] = expected
        return expected

    def replay(self, task: Task) -> tuple[Database, list[ToolResult], list[str]]:
        """Run the task's reference actions on a fresh database, as a confirming customer would let
        them run: the database after them, each action's result, and the compliance problems."""
        self._start(task)
        self.confirmed = True
        results = [self.toolbox.call(_tool_call(action, i)) for i, action in enumerate(task.solution)]
        return self.db, results, self.violations

    def audit(self, name: str, arguments: dict, *, kind: str, auth: bool, confirm: bool) -> None:
        """Count what calling tool ``name`` now breaks in the policy (before it runs)."""
        if auth and self.user_id is None:
            self._violate("unauthenticated_action", f"{name} before the customer was authenticated")
        if kind == "write" and confirm and not self.confirmed:
            self._violate("unconfirmed_write", f"{name} without the customer's explicit confirmation")
        rule = self.policy_violation(name, arguments)
        if rule:
            self._violate("forbidden_action", f"{name}: {rule}")

    def _violate(self, component: str, what: str) -> None:
        self.counts[component] += 1
        self.violations.append(what)

    def authenticate(self, user_id: str) -> None:
        """Called by the tools that identify the customer."""
        self.user_id = user_id

    @write(confirm=False)  # every domain has it; a transfer ends the episode
    def transfer_to_human_agents(self, summary: str) -> str:
        """Hand the conversation to a human agent. Only for requests the policy and tools cannot handle.

        Args:
            summary: The customer's issue in a sentence or two, for the human agent.
        """
        # Recorded in the database, so the outcome compares it like any other write.
        self.db.insert("transfers", str(len(self.db.changes.get("transfers", {})) + 1), {"user_id": self.user_id})
        self.transferred = True
        return "Transfer successful: a human agent will take over the conversation."

    def react(self, message: dict, results: list[ToolResult]) -> tuple[list[dict], str | None]:
        if self.transferred:
            return [], "transfer_to_human"
        if message.get("tool_calls"):
            return [], None
        reply = self.customer.reply(message_text(message))
        self.confirmed = is_affirmative(reply)
        return [{"role": "user", "content": reply}], "user_stop" if STOP in reply else None

    def step(self, action: dict) -> tuple[list, float, bool, bool, dict]:
        """``ChatEnv.step``, plus ``info["policy_violations"]`` (this turn's, readable) and, on the
        final step, ``info["db_diff"]``, ``info["missing_outputs"]`` and ``info["all_policy_violations"]``."""
        self.counts = dict.fromkeys(rewards.COMPLIANCE, 0)
        before = len(self.violations)
        observation, reward, terminated, truncated, info = super().step(action)
        info["policy_violations"] = self.violations[before:]
        if terminated or truncated:
            info.update(self.verdict(), all_policy_violations=list(self.violations))
        return observation, reward, terminated, truncated, info

    def verdict(self) -> dict[str, list]:
        """The episode's outcome, computed once: ``db_diff`` (readable differences from the
        reference end state, empty when equal) and ``missing_outputs`` (required strings not said)."""
        if self._verdict is None:
            self._verdict = {
                "db_diff": diff(self.db, self.expected),
                "missing_outputs": missing_outputs(self.task.answer, self.messages),
            }
        return self._verdict

    # ----- reference solution -----

    def oracle_action(self) -> dict:
        """The reference dialogue's next message: ask the customer to identify, then each
        reference action (a write after asking for confirmation), then the final reply."""
        plan = self.oracle_plan(self.task)
        return json.loads(json.dumps(plan[min(self.turn, len(plan) - 1)]))

    def oracle_plan(self, task: Task) -> list[dict]:
        """Every assistant message of the reference dialogue with the scripted customer, in order."""
        plan = [_say(self.auth_question)]
        for action in task.solution:
            tags = self.toolbox.tools[action["name"]].fn.tags
            if tags["kind"] == "write" and tags["confirm"]:
                details = "; ".join(f"{k}: {json.dumps(v)}" for k, v in action["arguments"].items())
                plan.append(
                    _say(
                        f"Here is what I am going to do: {action['name'].replace('_', ' ')} ({details}). "
                        f"Do you confirm? Please answer yes or no."
                    )
                )
            plan.append({"role": "assistant", "content": None, "tool_calls": [_tool_call(action, len(plan))]})
        if task.metadata["kind"] != "transfer":
            plan.append(_say(task.metadata["reply"]))
        return plan


def _say(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _tool_call(action: dict, index: int) -> dict:
    return {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": action["name"], "arguments": json.dumps(action["arguments"])},
    }
