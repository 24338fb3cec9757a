"""Tool calling for text-only models: calls written as text, parsed back into tool_calls."""

from __future__ import annotations

import json

from conftest import read_lines

import rftgym
from rftgym.agents import TextToolPolicy, make_policy
from rftgym.agents.testing import ScriptedServer
from rftgym.agents.text_tools import as_text_messages, parse_text_tool_calls

CALC = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
    },
}


def test_tool_call_blocks_and_react_lines_become_tool_calls():
    content, calls = parse_text_tool_calls(
        'Let me add.\n<tool_call>{"name": "calculator", "arguments": {"expression": "2+3"}}</tool_call>'
    )
    assert content == "Let me add."
    assert calls[0]["function"] == {"name": "calculator", "arguments": '{"expression": "2+3"}'}
    content, calls = parse_text_tool_calls('Thought: add them\nAction: calculator\nAction Input: {"expression": "2+3"}')
    assert content == "Thought: add them" and json.loads(calls[0]["function"]["arguments"]) == {"expression": "2+3"}
    assert parse_text_tool_calls("The answer is 5.") == ("The answer is 5.", [])
    assert parse_text_tool_calls('<tool_call>{"name": oops}</tool_call>')[1] == [], "a broken block stays text"


def test_history_is_rewritten_for_a_text_only_endpoint():
    call = {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+3"}'}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": None, "tool_calls": [call, {**call, "id": "c2"}]},
        {"role": "tool", "tool_call_id": "c1", "name": "calculator", "content": "5"},
        {"role": "tool", "tool_call_id": "c2", "name": "calculator", "content": "5"},
    ]
    out = as_text_messages(messages, [CALC])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].startswith("Be brief.") and '"calculator"' in out[0]["content"]
    assert out[2]["content"].count("<tool_call>") == 2 and "tool_calls" not in out[2]
    assert out[3]["content"] == "Result of calculator: 5\nResult of calculator: 5"
    assert messages[3]["role"] == "tool", "the caller's messages are left as they were"


def text_only_model(request: dict) -> dict:
    """A server with no tool calling: it must see neither `tools` nor tool-role messages."""
    assert "tools" not in request and all(m["role"] != "tool" for m in request["messages"])
    assert "<tool_call>" in request["messages"][0]["content"]
    turn = sum(m["role"] == "assistant" for m in request["messages"])
    if turn == 0:
        return {
            "role": "assistant",
            "content": '<tool_call>{"name": "calculator", "arguments": {"expression": "2+3"}}</tool_call>',
        }
    return {"role": "assistant", "content": 'Action: submit_answer\nAction Input: {"answer": "5"}'}


def test_a_text_only_endpoint_plays_a_tool_env_through_the_rollout_loop(tmp_path):
    out = tmp_path / "text.jsonl"
    with ScriptedServer(respond=text_only_model) as server:
        policy = make_policy("openai", base_url=server.base_url, model="m", tool_format="text", timeout=10)
        assert isinstance(policy, TextToolPolicy)
        result = rftgym.rollout("rftgym/MathTools-v0", policy, out, num_tasks=2, progress=False)
    assert result.errors == 0
    for line in read_lines(out):
        assert line["termination_reason"] == "submitted" and line["policy"]["tool_format"] == "text"
        assert [t["tool_calls"] for t in line["turns"]] == [1, 1] and not any(t["tool_errors"] for t in line["turns"])
        tool_results = [m for m in line["messages"] if m["role"] == "tool"]
        assert tool_results[0]["content"] == "5", "the trajectory keeps OpenAI tool messages"
