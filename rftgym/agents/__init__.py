"""Policies: the OpenAI-compatible chat client and model-free validation policies.

The contract (``base``) is imported at once; the HTTP client (``openai_chat``, aiohttp) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rftgym._lazy import lazy_exports
from rftgym.agents.base import ContextLengthExceeded, Policy, PolicyError, PolicyResponse, TaskPolicy
from rftgym.agents.validation import NoopPolicy, Oracle, OraclePolicy

if TYPE_CHECKING:
    from rftgym.agents.openai_chat import ChatPolicy
    from rftgym.agents.text_tools import TextToolPolicy

__getattr__ = lazy_exports(__name__, {"ChatPolicy": "openai_chat", "TextToolPolicy": "text_tools"})

#: The names :func:`make_policy` knows.
POLICY_NAMES = ("openai", "oracle", "noop")


def make_policy(
    name: str,
    *,
    base_url: str | None = None,
    model: str | None = None,
    tool_format: str = "native",
    oracle: Oracle | None = None,
    **sampling: Any,
) -> Policy | TaskPolicy:
    """Build a policy by name, as the CLI does.

    Args:
        name: ``"openai"`` (a :class:`ChatPolicy` on ``base_url``), ``"oracle"`` or ``"noop"``.
        base_url: The endpoint; required for ``"openai"``.
        model: The model name; required for ``"openai"``.
        tool_format: ``"native"`` (the endpoint's own tool calling) or ``"text"`` (tools described
            in the prompt and calls parsed from the reply: :class:`TextToolPolicy`, for
            text-only models).
        oracle: For ``"oracle"``: the env's ``oracle_action`` (see :class:`OraclePolicy`).
        **sampling: Further :class:`ChatPolicy` options (``temperature``, ``max_tokens``,
            ``timeout``...); None values are left at their defaults. Ignored by the validation
            policies.

    Raises:
        ValueError: An unknown name, ``"openai"`` without ``base_url`` or ``model``, or
            ``"oracle"`` without ``oracle``.
    """
    if name == "oracle":
        if oracle is None:
            raise ValueError("policy 'oracle' needs oracle: the env's oracle_action")
        return OraclePolicy(oracle)
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
    from rftgym.agents.openai_chat import ChatPolicy
    from rftgym.agents.text_tools import TextToolPolicy

    policy = ChatPolicy(base_url, model, **{k: v for k, v in sampling.items() if v is not None})
    return TextToolPolicy(policy) if tool_format == "text" else policy


__all__ = [
    "POLICY_NAMES",
    "ChatPolicy",
    "ContextLengthExceeded",
    "NoopPolicy",
    "Oracle",
    "OraclePolicy",
    "Policy",
    "PolicyError",
    "PolicyResponse",
    "TaskPolicy",
    "TextToolPolicy",
    "make_policy",
]
