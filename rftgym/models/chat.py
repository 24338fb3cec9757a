"""Messages -> token ids with a tokenizer's chat template, the one rendering that the built-in
endpoint samples from and the trainer re-renders with, so that the two agree token for token.

Messages reach the template as they are in trajectory files (OpenAI dicts), with one change that
vLLM makes too: tool-call ``arguments`` (JSON strings on the wire) become objects, since HF
templates write them with ``tojson``. ``reasoning_content`` is passed through; rendering it into
the assistant turn is the template's job (the tiny model's writes ``<think>...</think>``).

Nothing here imports torch: the caller hands in the tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rftgym.types import Message, ToolSchema


def render_ids(
    tokenizer: Any,
    messages: Sequence[Message],
    tools: Sequence[ToolSchema] | None,
    *,
    add_generation_prompt: bool = True,
) -> list[int]:
    """The token ids of ``messages`` (and ``tools``) rendered with the tokenizer's chat template;
    with ``add_generation_prompt`` they end with the opening of the next assistant turn."""
    text = tokenizer.apply_chat_template(
        [_template_message(m) for m in messages],
        tools=list(tools) if tools else None,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def eos_token_ids(tokenizer: Any, path: str) -> set[int]:
    """The tokens that end an assistant turn: the tokenizer's eos and those of the generation
    config in ``path`` (chat models often end a turn with a token other than the tokenizer's eos).
    Raises ValueError when neither names one."""
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        configured = GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:
        configured = None
    ids |= set(configured if isinstance(configured, list) else [] if configured is None else [configured])
    if not ids:
        raise ValueError(f"{path}: neither the tokenizer nor the generation config names an eos token")
    return ids


def _template_message(message: Message) -> Mapping[str, Any]:
    """``message`` as templates expect it: tool-call arguments decoded from JSON (left as written
    when they are not JSON)."""
    calls = message.get("tool_calls")
    if not calls:
        return message
    parsed = []
    for call in calls:
        function: dict[str, Any] = dict(call.get("function") or {})
        try:
            function["arguments"] = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            pass  # not JSON: rendered as written
        parsed.append({**call, "function": function})
    return {**message, "tool_calls": parsed}
