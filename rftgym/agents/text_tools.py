"""Tool calls written as text, for models and servers without native tool calling.

The convention (the tiny model's chat template uses it too): each call is a block
``<tool_call>{"name": "calculator", "arguments": {"expression": "2+2"}}</tool_call>``.
:func:`parse_tool_calls` reads such blocks back; :class:`TextToolPolicy` wraps any policy so that
the tools are described in the system prompt, the model's text is parsed into ``tool_calls``,
and tool results go back as plain user messages, which every chat template accepts.
ReAct-style ``Action: name`` / ``Action Input: {json}`` lines are accepted as well.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from rftgym.agents.base import Policy, PolicyResponse

if TYPE_CHECKING:
    from rftgym.envs.core import ChatEnv

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def parse_tool_calls(text: str) -> tuple[str | None, list[dict]]:
    """Split a completion into its content and OpenAI ``tool_calls``.

    Each ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` block whose body is a JSON
    object with a string ``name`` becomes a call (``arguments`` re-encoded as a JSON string); the
    remaining text, stripped, is the content (None when empty). A block that does not parse stays
    in the content as written, so the env sees what the model wrote.
    """
    calls = []

    def take(match: re.Match) -> str:
        try:
            body = json.loads(match.group(1))
        except ValueError:
            return match.group(0)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return match.group(0)
        arguments = body.get("arguments", {})
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": body["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
        return ""

    content = _TOOL_CALL.sub(take, text).strip()
    return content or None, calls


_REACT = re.compile(r"^\s*Action:\s*([\w.-]+)\s*\n\s*Action Input:\s*(\{.*?\})\s*$", re.DOTALL | re.MULTILINE)

INSTRUCTIONS = """You can call these tools (JSON schemas of their arguments):
{tools}

To call a tool, write a block like this, one block per call:
<tool_call>{{"name": "TOOL_NAME", "arguments": {{...}}}}</tool_call>
The results come back in the next message. Reply without a tool call to answer."""


def parse_text_tool_calls(text: str) -> tuple[str | None, list[dict]]:
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
    except ValueError:
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

    async def act(self, messages: list[dict], tools: list[dict], env: ChatEnv | None = None) -> PolicyResponse:
        response = await self.inner.act(as_text_messages(messages, tools), [], env)
        content, calls = parse_text_tool_calls(response.message.get("content") or "")
        response.message = {"role": "assistant", "content": content if content is not None or calls else ""}
        if calls:
            response.message["tool_calls"] = calls
        return response

    async def check(self) -> None:
        """The inner policy's endpoint check (CLI preflight), when it has one."""
        if hasattr(self.inner, "check"):
            await self.inner.check()

    async def aclose(self) -> None:
        await self.inner.aclose()


def as_text_messages(messages: list[dict], tools: list[dict]) -> list[dict]:
    """``messages`` with tool calls written as ``<tool_call>`` text, tool results as user
    messages (consecutive ones merged) and the tools described in the system message."""
    described = INSTRUCTIONS.format(tools="\n".join(json.dumps(t["function"]) for t in tools)) if tools else ""
    out: list[dict] = []
    if described and (not messages or messages[0]["role"] != "system"):
        out.append({"role": "system", "content": described})
    for m in messages:
        if m["role"] == "system" and described:
            out.append({"role": "system", "content": f"{m.get('content') or ''}\n\n{described}".strip()})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            blocks = [
                f'<tool_call>{{"name": {json.dumps(c["function"]["name"])}, "arguments": {c["function"]["arguments"]}}}</tool_call>'
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": "\n".join([m.get("content") or "", *blocks]).strip()})
        elif m["role"] == "tool":
            result = f"Result of {m.get('name') or 'the tool'}: {m.get('content')}"
            if out and out[-1]["role"] == "user" and out[-1].get("_results"):
                out[-1]["content"] += "\n" + result
            else:
                out.append({"role": "user", "content": result, "_results": True})
        else:
            out.append(m)
    return [{k: v for k, v in m.items() if k != "_results"} for m in out]
