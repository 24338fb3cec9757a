"""ChatPolicy against a real HTTP server through the real openai client; validation policies."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from rftgym.agents import ChatPolicy, NoopPolicy, OraclePolicy, PolicyError, make_policy
from rftgym.agents.testing import ScriptedServer
from rftgym.types import Task

pytestmark = pytest.mark.timeout(30)

MESSAGES = [{"role": "user", "content": "hello"}]
CALC = {
    "name": "calc",
    "description": "Evaluate an expression.",
    "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}},
}
TOOLS = [{"type": "function", "function": CALC}]


def act(base_url: str, tools: list[dict] | None = None, **options):
    """One ``act()`` on a fresh policy (which is closed afterwards)."""

    async def main():
        async with ChatPolicy(base_url, "test-model", **options) as policy:
            return await policy.act(MESSAGES, tools or [])

    return asyncio.run(main())


def sample(base_url: str, n: int, **options):
    async def main():
        async with ChatPolicy(base_url, "test-model", **options) as policy:
            return await policy.sample(MESSAGES, [], n)

    return asyncio.run(main())


def fails(base_url: str, **options) -> tuple[str, float]:
    """The PolicyError message of one ``act()``, and how long it took."""
    start = time.perf_counter()
    with pytest.raises(PolicyError) as caught:
        act(base_url, **options)
    return str(caught.value), time.perf_counter() - start


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----- answers -----


def test_act_returns_the_message_and_token_data():
    with ScriptedServer(weights_version="5") as server:
        response = act(server.base_url)
        request = server.request_log[-1]
    assert response.message == {"role": "assistant", "content": "hello"}
    assert response.finish_reason == "stop"
    assert response.completion_token_ids == list(b"hello")
    assert response.logprobs == [-0.5] * 5
    assert bytes(response.prompt_token_ids).decode() == "<user>hello"
    assert response.usage == {"prompt_tokens": len("<user>hello"), "completion_tokens": 5}
    assert response.weights_version == "5"
    assert request["model"] == "test-model" and request["messages"] == MESSAGES
    assert request["logprobs"] is True and request["return_token_ids"] is True
    assert "tools" not in request and "n" not in request


def test_tool_calls_become_plain_dicts():
    function = {"name": "calc", "arguments": '{"expr": "1+2"}'}

    def respond(request):
        return {"content": None, "tool_calls": [{"id": "call_a", "function": function}]}

    with ScriptedServer(respond=respond) as server:
        response = act(server.base_url, tools=TOOLS)
        assert server.request_log[-1]["tools"] == TOOLS
    assert response.message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_a", "type": "function", "function": function}],
    }
    assert response.finish_reason == "tool_calls"


def test_sampling_options_reach_the_request():
    with ScriptedServer() as server:
        act(
            server.base_url,
            temperature=0.3,
            top_p=0.9,
            max_tokens=64,
            seed=11,
            stop=["\n"],
            extra_body={"top_k": 5},
            request_token_data=False,
        )
        request = server.request_log[-1]
    assert {k: request[k] for k in ("temperature", "top_p", "max_tokens", "seed", "stop", "top_k")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 64,
        "seed": 11,
        "stop": ["\n"],
        "top_k": 5,
    }
    assert "logprobs" not in request and "return_token_ids" not in request


def test_without_token_data_those_fields_are_none():
    with ScriptedServer() as server:
        response = act(server.base_url, request_token_data=False)
    assert response.logprobs is None and response.completion_token_ids is None and response.prompt_token_ids is None
    assert response.usage == {"prompt_tokens": len("<user>hello"), "completion_tokens": 5}


def test_sample_uses_n_in_one_request():
    answers = iter(["a", "bb", "ccc"])
    with ScriptedServer(respond=lambda request: {"content": next(answers)}) as server:
        responses = sample(server.base_url, 3)
        assert server.requests == 1 and server.request_log[-1]["n"] == 3
    assert [r.message["content"] for r in responses] == ["a", "bb", "ccc"]
    assert [r.usage["completion_tokens"] for r in responses] == [1, 2, 3]
    assert [r.completion_token_ids for r in responses] == [list(b"a"), list(b"bb"), list(b"ccc")]
    assert responses[0].prompt_token_ids == responses[1].prompt_token_ids
    assert responses[0].prompt_token_ids is not responses[1].prompt_token_ids


def test_sample_asks_again_when_the_server_ignores_n():
    with ScriptedServer(max_n=1) as server:
        responses = sample(server.base_url, 3)
        assert server.requests == 3
    assert [r.message["content"] for r in responses] == ["hello"] * 3


def test_check_then_act_in_separate_event_loops():
    with ScriptedServer() as server:
        policy = ChatPolicy(server.base_url, "m")
        asyncio.run(policy.check())  # as the CLI does, before the rollout's own asyncio.run()

        async def two_turns():
            first = await policy.act(MESSAGES, [])
            await policy.aclose()  # a closed policy reconnects on its next call
            return first, await policy.act(MESSAGES, [])

        first, second = asyncio.run(two_turns())
        asyncio.run(policy.aclose())
    assert first.message == second.message == {"role": "assistant", "content": "hello"}


def test_check_fails_on_an_unreachable_endpoint():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(PolicyError, match=f"endpoint {url} unreachable after 2 attempts"):
        asyncio.run(ChatPolicy(url, "m", max_attempts=2).check())


def test_describe():
    policy = ChatPolicy("http://127.0.0.1:1/v1/", "m", temperature=0.5, max_tokens=10)
    assert policy.describe() == {
        "name": "openai",
        "model": "m",
        "base_url": "http://127.0.0.1:1/v1",
        "sampling": {"temperature": 0.5, "top_p": None, "max_tokens": 10, "seed": None},
    }
    asyncio.run(policy.aclose())


# ----- failures -----


@pytest.mark.parametrize("kind", ["429", "500", "503", "408", "drop", "garbage", "empty"])
def test_transient_failures_are_retried(kind):
    with ScriptedServer(fault_script=[kind, kind, "ok"]) as server:
        response = act(server.base_url, timeout=10)
        assert server.requests == 3
        assert server.fault_counts == {kind: 2}
    assert response.message["content"] == "hello"


@pytest.mark.parametrize("status", ["400", "401", "404", "422"])
def test_client_errors_fail_at_once(status):
    with ScriptedServer(fault_script=[status]) as server:
        message, _ = fails(server.base_url)
        assert server.requests == 1
    expected = f"rejected POST /chat/completions: HTTP {status}: scripted fault: HTTP {status}"
    assert message == f"endpoint {server.base_url} {expected}"


def test_exhausted_retries_name_the_last_error():
    with ScriptedServer(fault_script=["500", "429", "500"]) as server:
        message, _ = fails(server.base_url, max_attempts=3)
        assert server.requests == 3
    assert message == f"endpoint {server.base_url} failed after 3 attempts: HTTP 500: scripted fault: HTTP 500"


def test_exhausted_retries_on_garbage():
    with ScriptedServer(fault_script=["garbage"] * 2) as server:
        message, _ = fails(server.base_url, max_attempts=2)
    assert message.startswith(
        f"endpoint {server.base_url} failed after 2 attempts: invalid response (JSONDecodeError: Unterminated string"
    )
    assert "\n" not in message


def test_dropped_connections_are_named():
    with ScriptedServer(fault_script=["drop"] * 2) as server:
        message, _ = fails(server.base_url, max_attempts=2)
    assert message.startswith(f"endpoint {server.base_url} unreachable after 2 attempts: ServerDisconnectedError")


def test_deadline_covers_a_slow_server():
    with ScriptedServer(fault_script=["slow"], slow_seconds=30) as server:
        message, elapsed = fails(server.base_url, timeout=1.0)
    assert 0.9 < elapsed < 3.0
    assert message == f"endpoint {server.base_url} gave no answer within the 1 s deadline"


def test_deadline_includes_retries_and_names_the_last_error():
    with ScriptedServer(fault_script=["500", "slow"], slow_seconds=30) as server:
        message, elapsed = fails(server.base_url, timeout=1.0)
    assert elapsed < 3.0
    assert message.endswith("deadline after 1 failed attempts; last error: HTTP 500: scripted fault: HTTP 500")


def test_attempt_timeout_retries_a_hung_attempt():
    with ScriptedServer(fault_script=["slow", "ok"], slow_seconds=30) as server:
        start = time.perf_counter()
        response = act(server.base_url, timeout=10, attempt_timeout=0.3)
        assert server.requests == 2
    assert response.message["content"] == "hello"
    assert time.perf_counter() - start < 3.0


def test_unreachable_endpoint_fails_fast_and_clearly():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    message, elapsed = fails(url, max_attempts=3, timeout=10)
    assert elapsed < 3.0
    assert message.startswith(f"endpoint {url} unreachable after 3 attempts: ")
    assert "refused" in message.lower() or "connect" in message.lower()


def test_separate_process_server():
    with ScriptedServer.spawn(fault_script=["500", "drop", "ok"]) as server:
        response = act(server.base_url, timeout=10)
        assert server.stats() == {"requests": 3, "fault_counts": {"500": 1, "drop": 1}}
    assert response.message == {"role": "assistant", "content": "hello"}
    assert response.completion_token_ids == list(b"hello")


# ----- validation policies and the factory -----


def test_oracle_plays_the_reference_of_its_episode_task():
    seen = []

    def oracle(task, messages):
        seen.append((task.id, len(messages)))
        return {"role": "assistant", "content": task.answer}

    policy = OraclePolicy(oracle)
    episode = policy.for_task(Task(id="t1", split="test", prompt="6 x 7?", answer="42"))
    response = asyncio.run(episode.act(MESSAGES, TOOLS))
    assert response.message == {"role": "assistant", "content": "42"} and seen == [("t1", len(MESSAGES))]
    assert policy.describe()["name"] == "oracle" and policy.describe()["model"] is None


def test_noop_answers_without_tools():
    policy = NoopPolicy()
    response = asyncio.run(policy.act(MESSAGES, TOOLS))
    assert response.message == {"role": "assistant", "content": "I don't know."}
    assert policy.describe()["name"] == "noop" and policy.describe()["model"] is None


def test_make_policy():
    assert isinstance(make_policy("oracle", oracle=lambda task, messages: {}, temperature=0.2), OraclePolicy)
    with pytest.raises(ValueError, match="needs oracle"):
        make_policy("oracle")
    assert isinstance(make_policy("noop"), NoopPolicy)
    policy = make_policy("openai", base_url="http://127.0.0.1:1/v1", model="m", temperature=0.2, max_tokens=None)
    assert policy.describe()["sampling"]["temperature"] == 0.2
    asyncio.run(policy.aclose())
    with pytest.raises(ValueError, match="must start with http"):
        make_policy("openai", base_url="localhost:8000/v1", model="m")
    with pytest.raises(ValueError, match="needs base_url"):
        make_policy("openai", model="m")
    with pytest.raises(ValueError, match="unknown policy 'gpt'"):
        make_policy("gpt")


def test_an_empty_answer_is_an_empty_reply():
    with ScriptedServer(respond=lambda request: {"role": "assistant", "content": None}) as server:
        response = act(server.base_url)
    assert response.message == {"role": "assistant", "content": ""}


def test_a_rejection_carries_its_status_and_a_failure_after_retries_none():
    """The rollout loop stops a run on the same rejection again and again, never on a flaky endpoint."""
    with ScriptedServer(fault_script=["400"]) as server, pytest.raises(PolicyError) as rejected:
        act(server.base_url)
    assert rejected.value.status == 400
    with ScriptedServer(faults={"500": 1.0}) as server, pytest.raises(PolicyError) as failed:
        act(server.base_url, max_attempts=2)
    assert failed.value.status is None
