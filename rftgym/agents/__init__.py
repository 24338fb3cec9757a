"""Policies: the OpenAI-compatible chat client and model-free validation policies."""

from __future__ import annotations

from typing import Any

from rftgym.agents.base import Policy, PolicyError, PolicyResponse
from rftgym.agents.openai_chat import ChatPolicy
from rftgym.agents.text_tools import TextToolPolicy
from rftgym.agents.validation import NoopPolicy, OraclePolicy

#: The names :func:`make_policy` knows.
POLICY_NAMES = ("openai", "oracle", "noop")


def make_policy(
    name: str, *, base_url: str | None = None, model: str | None = None, tool_format: str = "native", **sampling: Any
) -> Policy:
    """Build a policy by name, as the CLI does.

    Args:
        name: ``"openai"`` (a :class:`ChatPolicy` on ``base_url``), ``"oracle"`` or ``"noop"``.
        base_url: The endpoint; required for ``"openai"``.
        model: The model name; required for ``"openai"``.
        tool_format: ``"native"`` (the endpoint's own tool calling) or ``"text"`` (tools described
            in the prompt and calls parsed from the reply: :class:`TextToolPolicy`, for
            text-only models).
        **sampling: Further :class:`ChatPolicy` options (``temperature``, ``max_tokens``,
            ``timeout``...); None values are left at their defaults. Ignored by the validation
            policies.

    Raises:
        ValueError: An unknown name, or ``"openai"`` without ``base_url`` or ``model``.
    """
    if name == "oracle":
        return OraclePolicy()
    if name == "noop":
        return NoopPolicy()
    if name != "openai":
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
    if not base_url:
        raise ValueError("policy 'openai' needs base_url: the endpoint's URL, e.g. http://127.0.0.1:8000/v1")
    if not model:
        raise ValueError("policy 'openai' needs model: the model name the endpoint serves")
    if tool_format not in ("native", "text"):
        raise ValueError(f"tool_format must be 'native' or 'text', got {tool_format!r}")
    policy = ChatPolicy(base_url, model, **{k: v for k, v in sampling.items() if v is not None})
    return TextToolPolicy(policy) if tool_format == "text" else policy


__all__ = [
    "POLICY_NAMES",
    "ChatPolicy",
    "NoopPolicy",
    "OraclePolicy",
    "Policy",
    "PolicyError",
    "PolicyResponse",
    "TextToolPolicy",
    "make_policy",
]
