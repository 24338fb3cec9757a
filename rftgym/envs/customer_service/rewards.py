"""Reward terms of the customer-service envs, combined in :data:`RUBRIC`.

Per turn (each a count of this turn's events, weighted negatively):

* ``invalid_tool_calls`` (-0.05): tool calls that failed (malformed, or refused by the tool's preconditions);
* ``unauthenticated_action`` (-0.1): a tool call on a customer's data before the customer was authenticated;
* ``unconfirmed_write`` (-0.1): a write without an explicit "yes" in the customer's last message;
* ``forbidden_action`` (-0.2): a call the policy forbids (another customer's data, a rule of the domain).

Outcome:

* ``db_match`` (recorded, weight 0): 1.0 when the final database equals the database after the
  reference actions, field by field (the differences are in the final step's ``info["db_diff"]``);
* ``outputs_communicated`` (recorded, weight 0): 1.0 when the agent said every required string
  (the ones it did not are in ``info["missing_outputs"]``) and told the customer anything at all:
  an agent whose every reply communicates nothing (empty, gibberish) scores 0 even on a task that
  requires no strings;
* ``task_success`` (1.0) = ``db_match`` x ``outputs_communicated``.

An agent that does nothing scores 0: every write task's reference changes the database, and every
task that needs no write (a question, a refusal) requires strings to be said (the linter checks both).

The compliance counts, ``db_match`` and ``task_success`` read the live env (``needs_env``): a rescore
of a stored file keeps the values it recorded. ``outputs_communicated`` is recomputed from the transcript.
"""

from __future__ import annotations

from rftgym.envs.customer_service.scenarios import missing_outputs
from rftgym.envs.customer_service.users import communicates
from rftgym.rewards import RewardContext, RewardTerm, Rubric, TermFn, tool_call_errors
from rftgym.types import message_text

#: The per-turn policy-compliance components, counted by the env's audit of each tool call.
COMPLIANCE = ("unauthenticated_action", "unconfirmed_write", "forbidden_action")


def compliance(name: str) -> TermFn:
    """Turn scope: how many tool calls of this turn broke the rule ``name`` (counted by the env)."""

    def fn(ctx: RewardContext) -> float:
        return float(ctx.env.counts[name])

    return fn


def db_match(ctx: RewardContext) -> float:
    """1.0 when the episode's database equals the task's reference end state."""
    return float(not ctx.env.verdict()["db_diff"])


def outputs_communicated(ctx: RewardContext) -> float:
    """1.0 when every required output (``task.answer``) was said by the agent (the env's verdict
    while it plays, the transcript when a stored episode is rescored) and at least one of the
    agent's replies to the customer communicates something."""
    missing = (
        ctx.env.verdict()["missing_outputs"] if ctx.env is not None else missing_outputs(ctx.task.answer, ctx.messages)
    )
    heard = (message_text(m) for m in ctx.messages if m.get("role") == "assistant" and not m.get("tool_calls"))
    return float(not missing and any(communicates(text) for text in heard))


def task_success(ctx: RewardContext) -> float:
    """``db_match`` x ``outputs_communicated``."""
    return db_match(ctx) * outputs_communicated(ctx)


RUBRIC = Rubric(
    [
        RewardTerm("invalid_tool_calls", tool_call_errors(), weight=-0.05),
        RewardTerm("unauthenticated_action", compliance("unauthenticated_action"), weight=-0.1, needs_env=True),
        RewardTerm("unconfirmed_write", compliance("unconfirmed_write"), weight=-0.1, needs_env=True),
        RewardTerm("forbidden_action", compliance("forbidden_action"), weight=-0.2, needs_env=True),
        RewardTerm("db_match", db_match, weight=0.0, scope="outcome", needs_env=True),
        RewardTerm("outputs_communicated", outputs_communicated, weight=0.0, scope="outcome"),
        RewardTerm("task_success", task_success, scope="outcome", needs_env=True),
    ]
)
