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
against its :class:`Access` before it runs, for the per-turn policy-compliance components (see
:mod:`.rewards`). Every domain has ``transfer_to_human_agents`` (declared here) and a
``transfers`` table for it. The oracle (:meth:`CustomerServiceEnv.oracle_action`) plays the task's
reference dialogue, and the task linter (:mod:`.lint`) checks every task against it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

import gymnasium

from rftgym.envs.core import ChatEnv
from rftgym.envs.customer_service.db import Database, diff
from rftgym.envs.customer_service.rewards import COMPLIANCE, RUBRIC
from rftgym.envs.customer_service.scenarios import Output, TaskSuite, missing_outputs
from rftgym.envs.customer_service.users import STOP, Customer, LLMCustomer, ScriptedCustomer, is_affirmative
from rftgym.envs.tools import tool
from rftgym.types import Message, Task, ToolCall, ToolResult, assistant_message, message_text, tool_call

# How many train tasks ``reset()`` without a task draws from (ids stay five digits).
TRAIN_POOL = 100_000
# Reference end states kept per process (one small overlay per task).
_REFERENCES: dict[tuple[str, str, int, str], Database] = {}
_MAX_REFERENCES = 20_000
# Where a @read/@write tool function keeps its Access (in its attributes, like @tool's mark).
_ACCESS = "__rftgym_access__"


@dataclass(frozen=True)
class Access:
    """How the policy lets a tool be called; the env audits every call against it before it runs.

    Attributes:
        kind: ``"read"``, or ``"write"`` (it changes the database).
        auth: It needs an authenticated customer.
        confirm: It needs the customer's explicit agreement in their last message.
    """

    kind: Literal["read", "write"]
    auth: bool = True
    confirm: bool = False


def read(fn: Callable[..., Any] | None = None, *, auth: bool = True) -> Callable[..., Any]:
    """Declare a tool that only reads. ``auth=False``: it needs no authenticated customer
    (catalogue look-ups, and the look-ups that authenticate)."""
    return _declare(fn, Access("read", auth=auth))


def write(fn: Callable[..., Any] | None = None, *, confirm: bool = True) -> Callable[..., Any]:
    """Declare a tool that changes the database. ``confirm=False``: it needs no explicit
    confirmation from the customer first (a transfer to a human)."""
    return _declare(fn, Access("write", confirm=confirm))


def _declare(fn: Callable[..., Any] | None, access: Access) -> Callable[..., Any]:
    """``fn`` as a tool audited with ``access`` before each call (without ``fn``: the decorator)."""
    if fn is None:
        return functools.partial(_declare, access=access)

    @functools.wraps(fn)
    def audited(self: CustomerServiceEnv, **arguments: Any) -> Any:
        self.audit(fn.__name__, arguments, access)
        return fn(self, **arguments)

    audited.__dict__[_ACCESS] = access
    return tool(audited)


def access_of(fn: Callable[..., Any]) -> Access:
    """The :class:`Access` a tool was declared with (``fn``: its function, or the bound method)."""
    access = fn.__dict__.get(_ACCESS)
    if not isinstance(access, Access):
        raise TypeError(f"tool {fn.__name__} of a customer-service env must be declared with @read or @write")
    return access


class Verdict(TypedDict):
    """The outcome of an episode, as the final step's ``info`` reports it.

    Keys:
        db_diff: Readable differences of the final database from the reference end state (empty: equal).
        missing_outputs: The required outputs the agent did not say.
    """

    db_diff: list[str]
    missing_outputs: list[Output]


class CustomerServiceEnv(ChatEnv):
    """Base of the customer-service domains (see the module docstring). Not registered itself."""

    splits = ("train", "test")
    rubric = RUBRIC
    #: Set by each domain.
    suite: ClassVar[TaskSuite]
    policy_file: ClassVar[Path]
    company: ClassVar[str]
    #: The reference solution's first message: asking the customer to identify.
    auth_question: ClassVar[str]
    #: The episode's database, its reference end state and its customer (set by ``reset``).
    db: Database
    expected: Database
    customer: Customer

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
        self.new_customer: Callable[[Task], Customer] = ScriptedCustomer
        if user_base_url:
            if not user_model:
                raise ValueError("an LLM customer needs user_model as well as user_base_url")
            import openai

            client = openai.OpenAI(base_url=user_base_url, api_key=user_api_key, timeout=user_timeout, max_retries=2)
            self.new_customer = functools.partial(
                LLMCustomer, client, user_model, company=self.company, temperature=user_temperature
            )
        self.policy = self.policy_file.read_text()
        self.write_tools = {name for name, t in self.toolbox.tools.items() if access_of(t.fn).kind == "write"}
        self.user_id: str | None = None  # the authenticated customer
        self.confirmed = False  # the customer's last message explicitly agreed
        self.transferred = False
        self.counts: dict[str, int] = {}  # this turn's compliance counts, by component
        self.violations: list[str] = []  # every compliance problem of the episode, readable
        self._verdict: Verdict | None = None

    # ----- hooks of a domain -----

    def policy_violation(self, name: str, arguments: dict[str, Any]) -> str | None:
        """The rule of the policy that calling tool ``name`` with ``arguments`` now breaks, or None.
        Called before the tool runs, for rules the tool itself does not enforce."""
        return None

    # ----- tasks -----

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
        self.customer = self.new_customer(task)

    def _start(self, task: Task) -> None:
        """Fresh episode state over the task's database."""
        self.db = Database(self.suite.base(task.metadata["db_seed"]))
        self.user_id, self.transferred = None, False
        self.counts = dict.fromkeys(COMPLIANCE, 0)
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
        results = [self.toolbox.call(_reference_call(action, i)) for i, action in enumerate(task.solution)]
        return self.db, results, self.violations

    def audit(self, name: str, arguments: dict[str, Any], access: Access) -> None:
        """Count what calling tool ``name`` (declared with ``access``) now breaks in the policy,
        before it runs."""
        if access.auth and self.user_id is None:
            self._violate("unauthenticated_action", f"{name} before the customer was authenticated")
        if access.kind == "write" and access.confirm and not self.confirmed:
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

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        if self.transferred:
            return [], "transfer_to_human"
        if message.get("tool_calls"):
            return [], None
        reply = self.customer.reply(message_text(message))
        self.confirmed = is_affirmative(reply)
        return [{"role": "user", "content": reply}], "user_stop" if STOP in reply else None

    def step(self, action: Message) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
        """``ChatEnv.step``, plus ``info["policy_violations"]`` (this turn's, readable) and, on the
        final step, the :class:`Verdict` (``info["db_diff"]``, ``info["missing_outputs"]``) and
        ``info["all_policy_violations"]``."""
        self.counts = dict.fromkeys(COMPLIANCE, 0)
        before = len(self.violations)
        observation, reward, terminated, truncated, info = super().step(action)
        info["policy_violations"] = self.violations[before:]
        if terminated or truncated:
            info.update(self.verdict(), all_policy_violations=list(self.violations))
        return observation, reward, terminated, truncated, info

    def verdict(self) -> Verdict:
        """The episode's outcome (see :class:`Verdict`), computed once, when it is first asked for."""
        if self.task is None:
            raise gymnasium.error.ResetNeeded("an episode has a verdict only after reset()")
        if self._verdict is None:
            self._verdict = {
                "db_diff": diff(self.db, self.expected),
                "missing_outputs": missing_outputs(self.task.answer, self.messages),
            }
        return self._verdict

    # ----- reference solution -----

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """The reference dialogue's next message after ``messages``: message number ``n`` of
        :meth:`oracle_plan` after ``n`` assistant turns (the plan's last one once it is played out)."""
        plan = self.oracle_plan(task)
        played = sum(m.get("role") == "assistant" for m in messages)
        return plan[min(played, len(plan) - 1)]

    def oracle_plan(self, task: Task) -> list[Message]:
        """Every assistant message of the reference dialogue with the scripted customer, in order:
        ask the customer to identify, then each reference action (a write that needs confirmation
        after asking for it), then the final reply."""
        plan = [assistant_message(self.auth_question)]
        for action in task.solution:
            access = access_of(self.toolbox.tools[action["name"]].fn)
            if access.kind == "write" and access.confirm:
                details = "; ".join(f"{k}: {json.dumps(v)}" for k, v in action["arguments"].items())
                plan.append(
                    assistant_message(
                        f"Here is what I am going to do: {action['name'].replace('_', ' ')} ({details}). "
                        f"Do you confirm? Please answer yes or no."
                    )
                )
            plan.append(assistant_message(None, [_reference_call(action, len(plan))]))
        if task.metadata["kind"] != "transfer":
            plan.append(assistant_message(task.metadata["reply"]))
        return plan


def _reference_call(action: dict[str, Any], index: int) -> ToolCall:
    """A reference action (``{"name", "arguments"}``) as the tool call that plays it, id ``call_<index>``."""
    return tool_call(action["name"], action["arguments"], f"call_{index}")
