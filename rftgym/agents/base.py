"""The policy contract: given the conversation so far and the tools, produce the next assistant message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rftgym.envs.core import ChatEnv


@dataclass
class PolicyResponse:
    """One sampled assistant turn.

    Attributes:
        message: The assistant message, an OpenAI dict (``content`` and/or ``tool_calls``).
        finish_reason: Why generation stopped (``stop``, ``tool_calls``, ``length``), if known.
        prompt_token_ids: The prompt as the server tokenised it (vLLM ``return_token_ids``).
        completion_token_ids: The sampled token ids, when the server returns them.
        logprobs: Log-probability of each sampled token, when the server returns them.
        usage: ``prompt_tokens`` / ``completion_tokens`` as the server counted them.
        weights_version: The server's weights version, when it reports one.
    """

    message: dict
    finish_reason: str | None = None
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: dict[str, int] | None = None
    weights_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class PolicyError(Exception):
    """The policy could not produce a turn (endpoint down after retries, bad request...)."""


class Policy(Protocol):
    """What the rollout loop needs from a policy."""

    def describe(self) -> dict[str, Any]:
        """``name``, ``model``, ``base_url``, ``sampling``: recorded in every trajectory line."""
        ...

    async def act(self, messages: list[dict], tools: list[dict], env: ChatEnv) -> PolicyResponse:
        """The next assistant turn. ``env`` is the episode's env (only validation policies read it)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
