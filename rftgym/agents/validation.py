"""Validation policies that need no model: they check an env and the pipeline around it.

``oracle`` plays the env's reference solution, so every task should reach full reward; ``noop``
never helps, so every task should score low. A run of each brackets what a real model can do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rftgym.agents.base import Policy, PolicyResponse
from rftgym.types import Message, Task, ToolSchema

#: ``oracle(task, messages) -> the reference next assistant message``: an env's ``oracle_action``.
Oracle = Callable[[Task, list[Message]], Message]


class OraclePolicy:
    """Plays an env's reference solution, one turn at a time.

    Built from the env's oracle, e.g. ``OraclePolicy(gymnasium.make(env_id).unwrapped.oracle_action)``:
    a pure function of the task and the conversation so far, so one env instance serves every
    episode. The rollout loop asks :meth:`for_task` for each episode's policy (a
    :class:`~rftgym.agents.base.TaskPolicy`).
    """

    def __init__(self, oracle: Oracle):
        """Args:
        oracle: ``oracle(task, messages)``, the reference next assistant message.
        """
        self.oracle = oracle

    def describe(self) -> dict[str, Any]:
        """``name`` ``"oracle"``; no model, endpoint or sampling."""
        return {"name": "oracle", "model": None, "base_url": None, "sampling": {}}

    def for_task(self, task: Task) -> Policy:
        """The policy of one episode of ``task``."""
        return _TaskOracle(self, task)

    async def aclose(self) -> None:
        """Nothing to release."""


class _TaskOracle:
    """The oracle of one episode: its task is fixed, the conversation comes with each call."""

    def __init__(self, parent: OraclePolicy, task: Task):
        self.parent, self.task = parent, task

    def describe(self) -> dict[str, Any]:
        return self.parent.describe()

    async def act(self, messages: list[Message], tools: list[ToolSchema]) -> PolicyResponse:
        return PolicyResponse(message=self.parent.oracle(self.task, messages))

    async def aclose(self) -> None:
        """Nothing to release."""


class NoopPolicy:
    """Always answers the same unhelpful text and never calls a tool."""

    def __init__(self, text: str = "I don't know."):
        """Args:
        text: The answer it gives every turn.
        """
        self.text = text

    def describe(self) -> dict[str, Any]:
        """``name`` ``"noop"``; no model, endpoint or sampling."""
        return {"name": "noop", "model": None, "base_url": None, "sampling": {}}

    async def act(self, messages: list[Message], tools: list[ToolSchema]) -> PolicyResponse:
        """A fresh ``{"role": "assistant", "content": text}``."""
        return PolicyResponse(message={"role": "assistant", "content": self.text})

    async def aclose(self) -> None:
        """Nothing to release."""
