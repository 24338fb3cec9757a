"""Gymnasium spaces whose elements are OpenAI chat-completions message dicts.

A message is a plain dict: ``{"role": ..., "content": ...}`` plus ``tool_calls`` on assistant
messages and ``tool_call_id`` (and optionally ``name``) on tool messages. These spaces check that
shape so ``gymnasium.utils.env_checker.check_env`` can validate chat environments, and their
``sample()`` gives random but well-formed messages (used by the checker as random actions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from rftgym.types import Message, Role, tool_call

ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")
_WORDS = ("the", "answer", "is", "42", "let", "me", "check", "calculator", "ok", "7", "done", "####")


def message_problem(message: Any, roles: Sequence[str] = ROLES) -> str | None:
    """Say what is wrong with ``message`` as a chat message, or return None when it is well-formed."""
    if not isinstance(message, dict):
        return f"a message must be a dict, got {type(message).__name__}"
    role = message.get("role")
    if role not in roles:
        return f"role must be one of {list(roles)}, got {role!r}"
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        return f"content must be a string, a list of parts or None, got {type(content).__name__}"
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if role != "assistant":
            return "only assistant messages carry tool_calls"
        if not isinstance(tool_calls, list):
            return "tool_calls must be a list"
        for call in tool_calls:
            problem = _tool_call_problem(call)
            if problem:
                return problem
    elif role == "assistant" and content is None:
        return "an assistant message needs content or tool_calls"
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        return "a tool message needs a string tool_call_id"
    return None


def _tool_call_problem(call: Any) -> str | None:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return "each tool call must be a dict with a 'function' dict"
    if not isinstance(call.get("id"), str):
        return "each tool call needs a string id"
    function = call["function"]
    if not isinstance(function.get("name"), str):
        return "each tool call needs a string function name"
    if not isinstance(function.get("arguments"), str):
        return "tool call arguments must be a JSON string (as the OpenAI API sends them)"
    return None


class MessageSpace(spaces.Space[Message]):
    """One chat message with a role from ``roles``.

    ``sample()`` returns an assistant message (plain text, or a call to one of ``tool_names`` with
    random arguments) when ``"assistant"`` is allowed, else a user message.
    """

    def __init__(
        self,
        roles: Sequence[Role] = ("assistant",),
        tool_names: Sequence[str] = (),
        seed: int | np.random.Generator | None = None,
    ):
        self.roles = tuple(roles)
        self.tool_names = tuple(tool_names)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return message_problem(x, self.roles) is None

    def sample(self, mask: Any = None, probability: Any = None) -> Message:
        rng = self.np_random
        words = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 8))))
        if "assistant" not in self.roles:
            return {"role": self.roles[0], "content": words}
        if not self.tool_names or rng.random() < 0.5:
            return {"role": "assistant", "content": words}
        name = str(rng.choice(self.tool_names))
        arguments = json.dumps({"x": words})
        call_id = f"call_{int(rng.integers(1 << 30))}"
        return {"role": "assistant", "content": None, "tool_calls": [tool_call(name, arguments, call_id)]}

    def __repr__(self) -> str:
        return f"MessageSpace(roles={self.roles})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, MessageSpace) and (self.roles, self.tool_names) == (other.roles, other.tool_names)


class MessageListSpace(spaces.Space[list[Message]]):
    """A list of chat messages (an observation: the new messages one step caused)."""

    def __init__(self, roles: Sequence[Role] = ROLES, seed: int | np.random.Generator | None = None):
        self.message_space = MessageSpace(roles)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, list) and all(m in self.message_space for m in x)

    def sample(self, mask: Any = None, probability: Any = None) -> list[Message]:
        self.message_space.seed(int(self.np_random.integers(1 << 31)))
        return [self.message_space.sample() for _ in range(int(self.np_random.integers(0, 3)))]

    def __repr__(self) -> str:
        return f"MessageListSpace(roles={self.message_space.roles})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, MessageListSpace) and self.message_space == other.message_space
