"""MCP both ways, with real MCP server processes: ``rftgym mcp serve`` (stdio and Streamable HTTP)
serving an env's tools, and those tools used inside another ChatEnv as ordinary tools."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import pytest
from conftest import default_sigint

pytest.importorskip("mcp")

from rftgym.bridges.mcp import MCPTools, add_mcp_tools  # noqa: E402
from rftgym.envs import ChatEnv, chat_env, register_env  # noqa: E402
from rftgym.rewards import Rubric  # noqa: E402
from rftgym.types import Task, assistant_message, tool_call  # noqa: E402

MATH = "rftgym/MathTools-v0"
SERVE = [sys.executable, "-m", "rftgym", "mcp", "serve", MATH]


class CalculatorDeskEnv(ChatEnv):
    """An env with no tools of its own: its tools come from an MCP server."""

    rubric = Rubric([])

    def __init__(self, server: str | list[str], **kwargs):
        super().__init__(**kwargs)
        self.mcp = MCPTools(server)
        add_mcp_tools(self, self.mcp)

    def tasks(self, split="train", num_tasks=None):
        return [Task(id="t0", split=split, prompt="What is 6 * 7?", answer="42")]

    def react(self, message, results):
        return [], None if message.get("tool_calls") else "final_answer"

    def close(self):
        self.mcp.close()


register_env("tests/CalculatorDesk-v0", f"{__name__}:CalculatorDeskEnv")

BAD_CALLS = [
    tool_call("calculator", {"expression": "6 * 7"}),
    tool_call("calculator", {"expression": "1 / 0"}),
    tool_call("calculator", {}),
    tool_call("calculator", {"expression": 7}),
    tool_call("calculator", {"expression": "1", "extra": True}),
    tool_call("calculator", "{not json"),
    tool_call("calculator", "[1, 2]"),
    tool_call("no_such_tool", {}),
    tool_call("submit_answer", {"answer": "no number here"}),
]


def contents(env, calls):
    return [(r.message["content"], r.error) for r in (env.toolbox.call(c) for c in calls)]


def test_an_env_uses_mcp_tools_over_stdio_like_its_own():
    native = chat_env(gymnasium.make(MATH))
    native.reset(seed=0, options={"task": native.tasks("test", 1)[0]})
    env = chat_env(gymnasium.make("tests/CalculatorDesk-v0", server=SERVE))
    try:
        assert env.toolbox.schemas == native.toolbox.schemas  # names, descriptions, JSON schemas
        got, want = contents(env, BAD_CALLS), contents(native, BAD_CALLS)
        assert got[0] == want[0] == ("42", None)
        # Validation happens on the client, with the Toolbox's own messages and error kinds.
        assert got[2:8] == want[2:8]
        for (text, kind), (native_text, native_kind) in ((got[1], want[1]), (got[8], want[8])):
            assert kind == native_kind == "tool_exception"
            assert text.startswith("Error: ") and native_text.split(": ", 3)[-1] in text
        # An ordinary step: the env answers the call with the server's result.
        env.reset(seed=0, options={"task": "t0"})
        obs, _, _, _, _ = env.step(assistant_message(tool_calls=[tool_call("calculator", {"expression": "6*7"})]))
        assert obs[-1]["role"] == "tool" and obs[-1]["content"] == "42"
    finally:
        env.close()
        native.close()


def test_streamable_http_server_process():
    process = subprocess.Popen(
        [*SERVE, "--http", "--port", "0"], stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        with MCPTools(url) as tools:
            assert [t.name for t in tools.tools()] == ["calculator", "submit_answer"]
            assert tools.call("calculator", expression="2 ** 10") == "1024"
            env = chat_env(gymnasium.make("tests/CalculatorDesk-v0", server=url))
            try:
                assert env.toolbox.call(tool_call("calculator", {"expr": "1"})).error == "invalid_arguments"
            finally:
                env.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_mcp_tools_refuses_a_bad_server():
    with pytest.raises(ValueError, match="URL or a command"):
        MCPTools("not a url")
