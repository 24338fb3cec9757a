"""The model's misbehaviour is the model's: never an infrastructure error, never fatal.

Each case has a scripted endpoint answer the first turn of every episode with one kind of broken
output, then play the oracle; the rollout must finish every episode without an ``error``, and the
trajectory file must stay valid.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import read_lines

from rftgym import validate_file
from rftgym.agents import ChatPolicy, ContextLengthExceeded, PolicyError
from rftgym.agents.openai_chat import _context_overflow
from rftgym.agents.testing import ScriptedServer
from rftgym.agents.text_tools import parse_text_tool_calls
from rftgym.envs.tools import MAX_ARGUMENTS_CHARS
from rftgym.rollout import rollout

pytestmark = pytest.mark.timeout(60)

ENV = "rftgym/MathTools-v0"
DEEP = "[" * 10_000 + "]" * 10_000


def calc(arguments: str) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"function": {"name": "calculator", "arguments": arguments}}],
    }


def bad_utf8_body(request: dict) -> bytes:
    message = b'{"role": "assistant", "content": "caf\xe9 \xff\xfe broken"}'
    return (
        b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": '
        + message
        + b', "finish_reason": "stop"}]}'
    )


#: The first answer of each episode, by kind of misbehaviour.
BROKEN = {
    "huge_arguments": lambda r: calc(json.dumps({"expression": "1+" * (MAX_ARGUMENTS_CHARS // 2 + 10) + "1"})),
    "deeply_nested_arguments": lambda r: calc(DEEP),
    "lone_surrogates": lambda r: {"role": "assistant", "content": "half a pair: \ud800 and \udfff"},
    "surrogates_in_arguments": lambda r: calc('{"expression": "1+\ud83d"}'),
    "invalid_utf8": bad_utf8_body,
    "call_not_an_object": lambda r: {"role": "assistant", "content": None, "tool_calls": ["calculator(2+2)", 7]},
    "call_without_name": lambda r: {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"function": {"arguments": "{}"}}],
    },
    "call_without_function": lambda r: {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
    "content_a_number": lambda r: {"role": "assistant", "content": 42},
    "content_an_object": lambda r: {"role": "assistant", "content": {"answer": [1, 2]}},
    "cut_by_length": lambda r: {"role": "assistant", "content": "The answer is", "finish_reason": "length"},
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_output_is_the_models_turn(kind, math_oracle, tmp_path):
    def respond(request: dict) -> dict | bytes:
        first = sum(m["role"] == "assistant" for m in request["messages"]) == 0
        return BROKEN[kind](request) if first else math_oracle(request)

    out = tmp_path / "t.jsonl"
    with ScriptedServer(respond=respond) as server:
        result = rollout(
            ENV,
            ChatPolicy(server.base_url, "m", max_attempts=1, request_token_data=False),
            out,
            num_tasks=2,
            progress=False,
        )
    assert result.errors == 0 and result.written == 2
    good, problems = validate_file(out)
    assert (good, problems) == (2, [])
    for line in read_lines(out):
        assert line["error"] is None, line["error"]
        assert line["termination_reason"] != "error"
        first = line["messages"][line["turns"][0]["message_index"]]
        assert first["role"] == "assistant"
        if kind == "cut_by_length":
            assert line["turns"][0]["finish_reason"] == "length"
        if first.get("tool_calls"):  # each broken call got an error answer the model can read
            answers = [m for m in line["messages"] if m["role"] == "tool"][: len(first["tool_calls"])]
            assert answers and all(m["content"].startswith("Error:") for m in answers), answers
        else:
            assert isinstance(first["content"], str)
        assert "\ud800" not in json.dumps(line, ensure_ascii=False).encode("utf-8", "surrogatepass").decode()


def test_context_overflow_is_a_truncation(tmp_path):
    """The endpoint's context-length 400 on the second turn ends the episode as truncated: the
    first turn is kept with its reward, no outcome is scored, and nothing is an error."""
    out = tmp_path / "t.jsonl"
    respond = lambda r: calc('{"expression": "2+2"}')  # noqa: E731  (never submits)
    with ScriptedServer(respond=respond, fault_script=["ok", "context_length"]) as server:
        result = rollout(ENV, ChatPolicy(server.base_url, "m"), out, num_tasks=1, concurrency=1, progress=False)
    assert result.errors == 0
    assert validate_file(out) == (1, [])
    (line,) = read_lines(out)
    assert line["error"] is None
    assert line["truncated"] is True and line["termination_reason"] == "context_length"
    assert len(line["turns"]) == 1
    assert line["outcome_reward"] == 0.0 and line["outcome_components"] == {}


def test_context_overflow_raises_its_own_error():
    async def act(server: ScriptedServer) -> None:
        async with ChatPolicy(server.base_url, "m") as policy:
            await policy.act([{"role": "user", "content": "a long question"}], [])

    with ScriptedServer(max_context=5) as server, pytest.raises(ContextLengthExceeded, match="maximum context"):
        asyncio.run(act(server))
    assert server.requests == 1  # not retried
    with ScriptedServer(fault_script=["400"]) as server, pytest.raises(PolicyError) as caught:
        asyncio.run(act(server))
    assert not isinstance(caught.value, ContextLengthExceeded)  # another bad request stays an error
    openai_body = {"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}
    assert _context_overflow(json.dumps(openai_body).encode())


def test_text_tool_calls_nested_too_deep_stay_text():
    content, calls = parse_text_tool_calls('<tool_call>{"name": "calculator", "arguments": ' + DEEP + "}</tool_call>")
    assert calls == [] and content is not None and content.startswith("<tool_call>")
    content, calls = parse_text_tool_calls('Action: calculator\nAction Input: {"a": ' + DEEP + "}")
    assert len(calls) == 1  # the env answers its arguments with an error
