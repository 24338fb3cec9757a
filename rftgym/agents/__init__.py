"""Policies: the OpenAI-compatible chat client and model-free validation policies."""

from __future__ import annotations

from typing import Any

from rftgym.agents.base import Policy, PolicyError, PolicyResponse
from rftgym.agents.openai_chat import ChatPolicy
from rftgym.agents.validation import NoopPolicy, OraclePolicy

#: The names :func:`make_policy` knows.
POLICY_NAMES = ("openai", "oracle", "noop")


def make_policy(name: str, *, base_url: str | None = None, model: str | None = None, **sampling: Any) -> Policy:
    """Build a policy by name, as the CLI does.

    Args:
        name: ``"openai"`` (a :class:`ChatPolicy` on ``base_url``), ``"oracle"`` or ``"noop"``.
        base_url: The endpoint; required for ``"openai"``.
        model: The model name; required for ``"openai"``.
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
    return ChatPolicy(base_url, model, **{k: v for k, v in sampling.items() if v is not None})


__all__ = ["POLICY_NAMES", "ChatPolicy", "NoopPolicy", "OraclePolicy", "Policy", "PolicyError", "PolicyResponse",
           "make_policy"]
