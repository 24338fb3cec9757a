"""Tool calls written as text, for models and servers without native tool calling.

The convention (the tiny model's chat template uses it too): each call is a block
``<tool_call>{"name": "calculator", "arguments": {"expression": "2+2"}}</tool_call>``.
:func:`parse_tool_calls` reads such blocks back; :class:`TextToolPolicy` wraps any policy so that
the tools are described in the system prompt, the model's text is parsed into ``tool_calls``,
and tool results go back as plain user messages, which every chat template accepts.
ReAct-style ``Action: name`` / ``Action Input: {json}`` lines are accepted as well.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from rftgym.agents.base import Policy, PolicyResponse
from rftgym.types import Message, ToolCall, ToolSchema, assistant_message, message_text, tool_call

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def parse_tool_calls(text: str) -> tuple[str | None, list[ToolCall]]:
    """Split a completion into its content and OpenAI ``tool_calls``.

    Each ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` block whose body is a JSON
    object with a string ``name`` becomes a call (``arguments`` re-encoded as a JSON string); the
    remaining text, stripped, is the content (None when empty). A block that does not parse stays
    in the content as written, so the env sees what the model wrote.
    """
    calls: list[ToolCall] = []

    def take(match: re.Match) -> str:
        try:
            body = json.loads(match.group(1))
        except (ValueError, RecursionError):  # nested too deep to decode: text, like any bad block
            return match.group(0)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return match.group(0)
        calls.append(tool_call(body["name"], body.get("arguments", {})))
        return ""

    content = _TOOL_CALL.sub(take, text).strip()
    return content or None, calls


_REACT = re.compile(r"^\s*Action:\s*([\w.-]+)\s*\n\s*Action Input:\s*(\{.*?\})\s*$", re.DOTALL | re.MULTILINE)

INSTRUCTIONS = """You can call these tools (JSON schemas of their arguments):
{tools}

To call a tool, write a block like this, one block per call:
<tool_call>{{"name": "TOOL_NAME", "arguments": {{...}}}}</tool_call>
The results come back in the next message. Reply without a tool call to answer."""


def parse_text_tool_calls(text: str) -> tuple[str | None, list[ToolCall]]:
    """:func:`parse_tool_calls`, falling back to one ReAct ``Action:`` / ``Action Input:`` call."""
    content, calls = parse_tool_calls(text)
    if calls or content is None:
        return content, calls
    match = _REACT.search(content)
    if match is None:
        return content, calls
    block = json.dumps({"name": match[1], "arguments": json.loads(match[2]) if _is_json(match[2]) else match[2]})
    return parse_tool_calls(content[: match.start()] + f"<tool_call>{block}</tool_call>" + content[match.end() :])


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class TextToolPolicy:
    """Tool calling for a text-only model: wraps ``inner`` (usually a ChatPolicy on a server with
    no tool-call parser). The trajectory still holds OpenAI ``tool_calls`` and tool messages; only
    what is sent to the endpoint is rewritten (see the module docstring)."""

    def __init__(self, inner: Policy):
        self.inner = inner

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "tool_format": "text"}

    async def act(self, messages: list[Message], tools: list[ToolSchema]) -> PolicyResponse:
        response = await self.inner.act(as_text_messages(messages, tools), [])
        raw = response.message
        content, calls = parse_text_tool_calls(message_text(raw))
        response.message = assistant_message(content if content is not None or calls else "", calls)
        if "reasoning_content" in raw:
            response.message["reasoning_content"] = raw["reasoning_content"]
        return response

    async def check(self) -> list[str] | None:
        """The inner policy's endpoint check (CLI preflight), when it has one: the model ids the
        endpoint serves."""
        if hasattr(self.inner, "check"):
            return list(await self.inner.check())
        return None

    async def aclose(self) -> None:
        await self.inner.aclose()


def as_text_messages(messages: list[Message], tools: list[ToolSchema]) -> list[Message]:
    """``messages`` with tool calls written as ``<tool_call>`` text, tool results as user
    messages (consecutive ones merged) and the tools described in the system message."""
    described = INSTRUCTIONS.format(tools="\n".join(json.dumps(t["function"]) for t in tools)) if tools else ""
    out: list[Message] = []
    if described and (not messages or messages[0]["role"] != "system"):
        out.append({"role": "system", "content": described})
    for is_tool, run in itertools.groupby(messages, key=lambda m: m["role"] == "tool"):
        if is_tool:  # consecutive tool results: one user message
            results = [f"Result of {m.get('name') or 'the tool'}: {m.get('content')}" for m in run]
            out.append({"role": "user", "content": "\n".join(results)})
        else:
            out += [_as_text_message(m, described) for m in run]
    return out


def _as_text_message(m: Message, described: str) -> Message:
    """A copy of one message that is not a tool result, in text form: the tool descriptions
    appended to a system message, an assistant message's tool calls as ``<tool_call>`` blocks."""
    if m["role"] == "system" and described:
        return {"role": "system", "content": f"{m.get('content') or ''}\n\n{described}".strip()}
    if m["role"] == "assistant" and m.get("tool_calls"):
        blocks = [
            f'<tool_call>{{"name": {json.dumps(c["function"]["name"])}, "arguments": {c["function"]["arguments"]}}}</tool_call>'
            for c in m["tool_calls"]
        ]
        return {"role": "assistant", "content": "\n".join([message_text(m), *blocks]).strip()}
    return m.copy()
