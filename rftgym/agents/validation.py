"""Validation policies that need no model: they check an env and the pipeline around it.

``oracle`` plays the env's reference solution, so every task should reach full reward; ``noop``
never helps, so every task should score low. A run of each brackets what a real model can do.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from rftgym.agents.base import PolicyResponse


class OraclePolicy:
    """Plays ``env.oracle_action()``: the env's reference solution, one turn at a time."""

    def describe(self) -> dict[str, Any]:
        """``name`` ``"oracle"``; no model, endpoint or sampling."""
        return {"name": "oracle", "model": None, "base_url": None, "sampling": {}}

    async def act(self, messages: list[dict], tools: list[dict], env: gymnasium.Env) -> PolicyResponse:
        """The reference next message of ``env`` (a ChatEnv, possibly inside Gymnasium wrappers)."""
        return PolicyResponse(message=env.unwrapped.oracle_action())

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

    async def act(self, messages: list[dict], tools: list[dict], env: gymnasium.Env | None = None) -> PolicyResponse:
        """A fresh ``{"role": "assistant", "content": text}``."""
        return PolicyResponse(message={"role": "assistant", "content": self.text})

    async def aclose(self) -> None:
        """Nothing to release."""
