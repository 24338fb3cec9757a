"""The policy contract: given the conversation so far and the tools, produce the next assistant message.

A policy sees messages and tool schemas only, never the env: what a policy needs beyond them (the
oracle's reference solutions) comes through its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rftgym.types import Message, Task, ToolSchema


@dataclass
class PolicyResponse:
    """One sampled assistant turn.

    Attributes:
        message: The assistant message, an OpenAI dict (``content`` and/or ``tool_calls``, and
            ``reasoning_content`` when the endpoint returned reasoning text).
        finish_reason: Why generation stopped (``stop``, ``tool_calls``, ``length``), if known.
        prompt_token_ids: The prompt as the server tokenised it (vLLM ``return_token_ids``).
        completion_token_ids: The sampled token ids, when the server returns them.
        logprobs: Log-probability of each sampled token, when the server returns them.
        usage: ``prompt_tokens`` / ``completion_tokens`` as the server counted them.
        weights_version: The server's weights version, when it reports one.
    """

    message: Message
    finish_reason: str | None = None
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: dict[str, int] | None = None
    weights_version: str | None = None


class PolicyError(Exception):
    """The policy could not produce a turn (endpoint down after retries, bad request...).

    ``status`` is the HTTP status of an answer that asking again cannot change (a 4xx other than
    408 and 429: a model the endpoint does not know, a field it refuses), else None. The rollout
    loop stops a run whose episodes keep failing with the same such answer.
    """

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ContextLengthExceeded(PolicyError):
    """The conversation no longer fits the model's context window (the endpoint answered 400
    with vLLM's "maximum context length" or OpenAI's ``context_length_exceeded``).

    This is the model's limit, not an infrastructure failure: the rollout loop ends the episode
    as truncated (``termination_reason="context_length"``, no ``error``), keeps its turns and
    their rewards, and scores no outcome (the env was not stepped, so the outcome reward is 0
    with no components).
    """


@runtime_checkable
class Policy(Protocol):
    """What the rollout loop needs from a policy."""

    def describe(self) -> dict[str, Any]:
        """``name``, ``model``, ``base_url``, ``sampling``: recorded in every trajectory line."""
        ...

    async def act(self, messages: list[Message], tools: list[ToolSchema]) -> PolicyResponse:
        """The next assistant turn of the conversation ``messages``, offered ``tools``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class TaskPolicy(Protocol):
    """A policy that plays a known task, such as the oracle: the rollout loop asks it for the
    policy of each episode with :meth:`for_task` and plays that one."""

    def describe(self) -> dict[str, Any]: ...

    def for_task(self, task: Task) -> Policy:
        """The policy that plays one episode of ``task``."""
        ...

    async def aclose(self) -> None: ...
