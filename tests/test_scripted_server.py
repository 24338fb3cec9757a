"""The scripted OpenAI-compatible server: answers, token data, faults, and the process mode."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from rftgym.agents.testing import FAULT_KINDS, ScriptedServer, echo, load_responder

pytestmark = pytest.mark.timeout(30)

USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo"}]


def post(server_url: str, body: dict, timeout: float = 10) -> tuple[int, bytes]:
    """POST a chat completion request with urllib; (status, body) even for HTTP errors."""
    request = urllib.request.Request(
        server_url + "/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def chat(server_url: str, **fields) -> dict:
    status, body = post(server_url, {"model": "m", "messages": USER, **fields})
    assert status == 200
    return json.loads(body)


def calls_tool(request: dict) -> dict:
    return {"content": "let me compute", "tool_calls": [{"function": {"name": "calc", "arguments": {"x": 1}}}]}


def test_echo_answer_is_a_full_chat_completion():
    with ScriptedServer(weights_version="3") as server:
        data = chat(server.base_url)
        assert server.requests == 1
        assert server.request_log[-1]["messages"] == USER
    assert data["object"] == "chat.completion" and data["model"] == "m" and data["id"]
    assert data["weights_version"] == "3"
    (choice,) = data["choices"]
    assert choice["message"] == {"role": "assistant", "content": "héllo"}
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None and "token_ids" not in choice and "prompt_token_ids" not in data
    assert data["usage"]["completion_tokens"] == len("héllo".encode()) == 6
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + 6


def test_token_data_is_byte_level_when_asked():
    with ScriptedServer() as server:
        data = chat(server.base_url, logprobs=True, return_token_ids=True)
    choice = data["choices"][0]
    assert choice["token_ids"] == list("héllo".encode())
    assert [entry["logprob"] for entry in choice["logprobs"]["content"]] == [-0.5] * 6
    assert len(data["prompt_token_ids"]) == data["usage"]["prompt_tokens"]
    assert bytes(data["prompt_token_ids"]).decode().endswith("héllo")


def test_tool_calls_are_completed_and_counted():
    with ScriptedServer(respond=calls_tool) as server:
        data = chat(server.base_url, return_token_ids=True)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call == {"id": "call_0_0", "type": "function", "function": {"name": "calc", "arguments": '{"x": 1}'}}
    text = "let me compute" + json.dumps({"name": "calc", "arguments": '{"x": 1}'})
    assert choice["token_ids"] == list(text.encode())


def test_n_calls_the_responder_n_times():
    answers = iter(["a", "bb", "ccc"])
    with ScriptedServer(respond=lambda request: {"content": next(answers)}) as server:
        data = chat(server.base_url, n=3)
    assert [c["message"]["content"] for c in data["choices"]] == ["a", "bb", "ccc"]
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert data["usage"]["completion_tokens"] == 6


def test_max_n_imitates_a_server_that_ignores_n():
    with ScriptedServer(max_n=1) as server:
        assert len(chat(server.base_url, n=4)["choices"]) == 1


def test_finish_reason_can_be_scripted():
    with ScriptedServer(respond=lambda request: {"content": "cut", "finish_reason": "length"}) as server:
        choice = chat(server.base_url)["choices"][0]
    assert choice["finish_reason"] == "length" and "finish_reason" not in choice["message"]


def test_models_endpoint_lists_the_model():
    with ScriptedServer(model="tiny") as server:
        with urllib.request.urlopen(server.base_url + "/models", timeout=10) as reply:
            data = json.load(reply)
    assert [m["id"] for m in data["data"]] == ["tiny"]


def test_scripted_faults_in_order():
    script = ["429", "500", "400", "garbage", "drop", "empty", "ok"]
    with ScriptedServer(fault_script=script) as server:
        body = {"model": "m", "messages": USER}
        for status in (429, 500, 400):
            code, raw = post(server.base_url, body)
            assert code == status
            assert json.loads(raw)["error"]["message"] == f"scripted fault: HTTP {status}"
        code, raw = post(server.base_url, body)
        assert code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            post(server.base_url, body)
        code, raw = post(server.base_url, body)
        assert code == 200 and json.loads(raw)["choices"] == []
        assert post(server.base_url, body)[0] == 200
        assert server.fault_counts == {"429": 1, "500": 1, "400": 1, "garbage": 1, "drop": 1, "empty": 1}
        assert server.requests == 7


def test_slow_fault_answers_late():
    with ScriptedServer(fault_script=["slow"], slow_seconds=0.3) as server:
        start = time.perf_counter()
        assert chat(server.base_url)["choices"]
        assert time.perf_counter() - start >= 0.3


def test_stop_does_not_wait_for_slow_requests():
    server = ScriptedServer(fault_script=["slow"], slow_seconds=60).start()
    with pytest.raises(OSError):  # the client gives up long before the answer
        post(server.base_url, {"model": "m", "messages": USER}, timeout=0.2)
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 3


def test_random_faults_follow_the_seed():
    def sequence() -> list[int]:
        with ScriptedServer(faults={"429": 0.3, "500": 0.3}, seed=7) as server:
            return [post(server.base_url, {"model": "m", "messages": USER})[0] for _ in range(30)]

    first = sequence()
    assert first == sequence()
    assert {429, 500, 200} == set(first)


def test_request_log_is_bounded():
    with ScriptedServer(log_size=2) as server:
        for i in range(5):
            chat(server.base_url, seed=i)
        assert [body["seed"] for body in server.request_log] == [3, 4]


def test_load_responder():
    assert load_responder("rftgym.agents.testing:echo") is echo
    with pytest.raises(ValueError, match="module:function"):
        load_responder("rftgym.agents.testing")


def test_separate_process_mode():
    with ScriptedServer.spawn(fault_script=["500", "ok"], weights_version="9") as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert post(server.base_url, {"model": "m", "messages": USER})[0] == 500
        assert chat(server.base_url)["weights_version"] == "9"
        assert server.stats() == {"requests": 2, "fault_counts": {"500": 1}}
        process = server.process
    assert process.poll() is not None


def test_command_line_prints_the_url_first():
    args = [sys.executable, "-m", "rftgym.agents.testing", "--port", "0", "--fault-rate", "0.5", "--seed", "0"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        with urllib.request.urlopen(url + "/models", timeout=10) as reply:
            assert json.load(reply)["data"]
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def test_fault_rate_spreads_over_every_kind():
    with ScriptedServer.spawn(fault_rate=1.0, seed=1, slow_seconds=0.01) as server:
        for _ in range(40):
            try:
                post(server.base_url, {"model": "m", "messages": USER}, timeout=5)
            except OSError:
                pass  # a dropped connection
        stats = server.stats()
    assert stats["requests"] == 40
    assert set(stats["fault_counts"]) == set(FAULT_KINDS)
    assert sum(stats["fault_counts"].values()) == 40


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kind 'boom'"):
        ScriptedServer(fault_script=["ok", "boom"])
