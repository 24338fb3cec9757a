"""A scripted OpenAI-compatible chat server for tests, benchmarks and fault injection.

It speaks real HTTP (``POST /v1/chat/completions``, ``GET /v1/models``), so the code under test
goes through the real ``openai`` client. A ``respond(request_json) -> message`` function decides
what the assistant says; the server wraps that message in a full ``chat.completion``:

* ``n`` choices (``respond`` is called once per choice), ``finish_reason`` (``tool_calls`` when
  the message has tool calls, else ``stop``; a ``finish_reason`` key in the message overrides it);
* ``usage`` counted in UTF-8 bytes, i.e. a byte-level tokenizer;
* ``logprobs.content`` (one entry per byte, logprob -0.5) when the request asks ``logprobs``;
* vLLM's ``prompt_token_ids`` (top level) and ``token_ids`` (per choice) when the request asks
  ``return_token_ids``: the UTF-8 bytes of the rendered prompt and of the completion text (the
  content followed by each tool call as JSON);
* ``weights_version`` at the top level.

Faults, for retry and reliability tests, are drawn per request: ``"429"``, ``"500"`` (or any other
HTTP status such as ``"400"``, answered with an OpenAI-style error body), ``"drop"`` (the TCP
connection is aborted without an answer), ``"slow"`` (answer after ``slow_seconds``, past a
client's deadline) and ``"garbage"`` (status 200 with a body that is not JSON); ``"empty"`` (a
200 chat completion without choices) and ``"context_length"`` (vLLM's 400 answer to a prompt over
the model's context) can be scripted too. ``max_context`` answers that 400 to every request whose
rendered prompt is longer than that many bytes, like a real server.

For tests of a misbehaving model, ``respond`` may return any message dict as it should go on the
wire (``tool_calls`` entries that are not objects, content of the wrong type: passed on as they
are), or ``bytes``: the whole 200 answer body, sent as it is (e.g. bytes that are not UTF-8).

Two ways to run it::

    with ScriptedServer(respond=my_fn, fault_script=["429", "ok"]) as server:   # background thread
        policy = ChatPolicy(server.base_url, "scripted")

    with ScriptedServer.spawn("my_module:my_fn", fault_rate=0.2, seed=0) as server:  # own process
        ...

or from a shell: ``python -m rftgym.agents.testing --port 8000 --respond module:function
--fault-rate 0.2 --seed 0`` (the first stdout line is the base URL).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import json
import random
import select
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from typing import IO, Any, cast

from aiohttp import web

from rftgym._background import BackgroundServer

Responder = Callable[[dict], "dict | bytes"]

#: The fault kinds ``fault_rate`` spreads its probability over.
FAULT_KINDS = ("429", "500", "drop", "slow", "garbage")


def echo(request: dict) -> dict:
    """The default responder: answer with the text of the last user message."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            return {"role": "assistant", "content": _text(message.get("content"))}
    return {"role": "assistant", "content": ""}


def load_responder(spec: str) -> Responder:
    """Import a responder from ``"module:function"``."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"responder must look like 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module_name), attr)


class ScriptedServer(BackgroundServer):
    """An OpenAI-compatible chat server whose answers come from a Python function.

    Use it as a context manager (it serves from a background thread with its own event loop), or
    :meth:`spawn` it as a separate process. See the module docstring for what it answers.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1`` once started.
        requests: Chat completion requests received so far.
        fault_counts: Injected faults so far, by kind.
        request_log: The bodies of the last ``log_size`` chat completion requests.
    """

    def __init__(
        self,
        respond: Responder = echo,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: dict[str, float] | None = None,
        fault_script: list[str] | None = None,
        seed: int | None = None,
        slow_seconds: float = 30.0,
        weights_version: str = "0",
        model: str = "scripted",
        log_size: int = 100,
        max_n: int | None = None,
        max_context: int | None = None,
    ):
        """Args:
        respond: ``respond(request_json) -> assistant message dict`` (``content`` and/or
            ``tool_calls``; a tool call's ``id``/``type`` are filled in when missing).
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        faults: Probability of each fault kind per request (``{"429": 0.1, "drop": 0.05}``).
        fault_script: Fault kind (or ``"ok"``) of each coming request, in order; once used up,
            ``faults`` applies. For deterministic tests.
        seed: Seed of the random fault draws.
        slow_seconds: How long a ``"slow"`` request waits before it is answered.
        weights_version: Reported as the response's top-level ``weights_version``.
        model: The model ``GET /v1/models`` lists.
        log_size: How many request bodies ``request_log`` keeps.
        max_n: Answer at most this many choices, like servers that ignore ``n``.
        max_context: Answer vLLM's context-length 400 when the rendered prompt is longer than
            this many bytes (the byte-level tokenizer's tokens); None: no limit.
        """
        for kind in [*(faults or {}), *(fault_script or [])]:
            if kind not in (*FAULT_KINDS, "empty", "context_length", "ok") and not (kind.isdigit() and len(kind) == 3):
                raise ValueError(
                    f"unknown fault kind {kind!r}: use an HTTP status or one of {', '.join(FAULT_KINDS)}, empty, context_length, ok"
                )
        self.respond = respond
        self.host, self.port = host, port
        self.faults = dict(faults or {})
        self.fault_script = collections.deque(fault_script or [])
        self.slow_seconds = slow_seconds
        self.weights_version = weights_version
        self.model = model
        self.max_n = max_n
        self.max_context = max_context
        self.requests = 0
        self.fault_counts: dict[str, int] = {}
        self.request_log: collections.deque[dict] = collections.deque(maxlen=log_size)
        self.base_url = ""
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None

    # ----- running it (start/stop/with: BackgroundServer) -----

    async def serve(self) -> str:
        """Start listening on the running event loop; returns (and sets) ``base_url``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        # Handler cancellation: a "slow" request stops sleeping once its client gave up.
        return await self.listen(app, handler_cancellation=True, shutdown_timeout=0.5)

    async def close(self) -> None:
        """Stop listening (in-flight requests are cancelled)."""
        if self._runner is not None:  # None when serve() failed before listening
            await self._runner.cleanup()

    @classmethod
    def spawn(
        cls,
        respond: str = "rftgym.agents.testing:echo",
        *,
        faults: dict[str, float] | None = None,
        fault_rate: float = 0.0,
        fault_script: list[str] | None = None,
        seed: int | None = None,
        slow_seconds: float = 30.0,
        weights_version: str = "0",
        startup_timeout: float = 30.0,
    ) -> ServerProcess:
        """Start the server as a separate process (``python -m rftgym.agents.testing``).

        ``respond`` is a ``"module:function"`` string; ``fault_rate`` is spread evenly over
        :data:`FAULT_KINDS` and added to ``faults``. The other arguments are as in the
        constructor. Use the result as a context manager: it terminates the process on exit.
        """
        args = [
            sys.executable,
            "-m",
            "rftgym.agents.testing",
            "--port",
            "0",
            "--respond",
            respond,
            "--fault-rate",
            str(fault_rate),
            "--slow-seconds",
            str(slow_seconds),
            "--weights-version",
            weights_version,
        ]
        if faults:
            args += ["--faults", ",".join(f"{kind}={p}" for kind, p in faults.items())]
        if fault_script:
            args += ["--fault-script", ",".join(fault_script)]
        if seed is not None:
            args += ["--seed", str(seed)]
        return ServerProcess(args, startup_timeout)

    # ----- handlers -----

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        self.request_log.append(body)
        fault = self._next_fault()
        if fault != "ok":
            self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
            if fault == "drop":
                if request.transport is not None:  # None when the client is gone already
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing can be sent on an aborted connection
            if fault == "garbage":
                return web.Response(text='{"id": "chatcmpl-garbage", "choi', content_type="application/json")
            if fault == "empty":
                return web.json_response({"id": "chatcmpl-empty", "object": "chat.completion", "choices": []})
            if fault == "context_length":
                return _context_error(len(_render_prompt(body.get("messages") or []).encode()))
            if fault == "slow":
                await asyncio.sleep(self.slow_seconds)
            else:
                return _error(int(fault))
        if self.max_context is not None:
            prompt_tokens = len(_render_prompt(body.get("messages") or []).encode())
            if prompt_tokens > self.max_context:
                return _context_error(prompt_tokens, self.max_context)
        answer = self.completion(body)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return web.Response(body=data, content_type="application/json")

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": self.model, "object": "model", "created": 0, "owned_by": "rftgym"}]
        return web.json_response({"object": "list", "data": data})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests, "fault_counts": self.fault_counts})

    def _next_fault(self) -> str:
        if self.fault_script:
            return self.fault_script.popleft()
        if self.faults:
            draw = self._rng.random()
            for kind, probability in self.faults.items():
                draw -= probability
                if draw < 0:
                    return kind
        return "ok"

    # ----- the answer -----

    def completion(self, request: dict) -> dict | bytes:
        """The ``chat.completion`` answer to a request (no faults); the body itself when
        ``respond`` returned bytes."""
        want_logprobs = bool(request.get("logprobs"))
        want_ids = bool(request.get("return_token_ids"))
        choices, completion_tokens = [], 0
        n = int(request.get("n") or 1)
        for index in range(min(n, self.max_n or n)):
            said = self.respond(request)
            if isinstance(said, bytes):
                return said
            message = dict(said)
            finish_reason = message.pop("finish_reason", None)
            message["role"] = "assistant"
            message.setdefault("content", None)
            if isinstance(message.get("tool_calls"), list):
                message["tool_calls"] = [_full_call(call, index, i) for i, call in enumerate(message["tool_calls"])]
            tokens = _completion_text(message).encode("utf-8", "surrogatepass")  # a model may write lone surrogates
            completion_tokens += len(tokens)
            choice: dict[str, Any] = {
                "index": index,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if message.get("tool_calls") else "stop"),
                "logprobs": {"content": [_logprob(t) for t in tokens]} if want_logprobs else None,
            }
            if want_ids:
                choice["token_ids"] = list(tokens)
            choices.append(choice)
        prompt = _render_prompt(request.get("messages") or []).encode()
        response = {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model") or self.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": completion_tokens,
                "total_tokens": len(prompt) + completion_tokens,
            },
            "weights_version": self.weights_version,
        }
        if want_ids:
            response["prompt_token_ids"] = list(prompt)
        return response


class ServerProcess:
    """A :class:`ScriptedServer` running as a child process (see :meth:`ScriptedServer.spawn`)."""

    def __init__(self, args: list[str], startup_timeout: float = 30.0):
        """Start ``args`` and wait (up to ``startup_timeout`` s) for the base URL on its stdout."""
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self._stdout = cast(IO[str], self.process.stdout)  # not None: stdout=PIPE
        ready, _, _ = select.select([self._stdout], [], [], startup_timeout)
        line = self._stdout.readline().strip() if ready else ""
        if not line.startswith("http"):
            self.close()
            raise RuntimeError(f"scripted server did not start (exit code {self.process.returncode}, said {line!r})")
        self.base_url = line

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict:
        """``{"requests": int, "fault_counts": {kind: int}}`` so far."""
        with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/_stats", timeout=10) as reply:
            return json.load(reply)

    def close(self) -> None:
        """Terminate the process (kill it if it does not exit within 5 s)."""
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stdout.close()


# ----- helpers -----


def _text(content: Any) -> str:
    """The text of a message's content (a string or a list of content parts)."""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else json.dumps(content) if content is not None else ""


def _full_call(call: Any, choice: int, position: int) -> Any:
    """A tool call with ``id``, ``type`` and string ``arguments`` filled in; a malformed one (not
    an object, no ``function`` object) as it is."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = dict(call["function"])
    if not isinstance(function.get("arguments"), str):
        function["arguments"] = json.dumps(function.get("arguments") or {})
    return {"id": call.get("id") or f"call_{choice}_{position}", "type": "function", "function": function}


def _completion_text(message: dict) -> str:
    """What the byte-level tokenizer counts: the content, then each tool call as JSON."""
    calls = message.get("tool_calls") or []
    return _text(message.get("content")) + "".join(_call_text(c) for c in calls if isinstance(calls, list))


def _call_text(call: Any) -> str:
    """One tool call as the tokenizer counts it: its name and arguments as JSON (a malformed
    call: itself as JSON)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return json.dumps(call)
    return json.dumps({"name": function.get("name"), "arguments": function.get("arguments")})


def _render_prompt(messages: list[dict]) -> str:
    """The prompt as the byte-level tokenizer sees it: one ``<role>content`` block per message."""
    parts = []
    for m in messages:
        parts.append(f"<{m.get('role')}>{_text(m.get('content'))}")
        parts += [json.dumps(c.get("function")) for c in m.get("tool_calls") or []]
    return "\n".join(parts)


def _logprob(token: int) -> dict:
    return {"token": chr(token), "logprob": -0.5, "bytes": [token], "top_logprobs": []}


def _error(status: int) -> web.Response:
    """An OpenAI-style error answer."""
    message = f"scripted fault: HTTP {status}"
    kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return web.json_response(body, status=status)


def _context_error(prompt_tokens: int, limit: int | None = None) -> web.Response:
    """vLLM's answer to a prompt longer than the model's context."""
    limit = limit if limit is not None else max(prompt_tokens - 1, 0)
    message = (
        f"This model's maximum context length is {limit} tokens. However, you requested "
        f"{prompt_tokens} tokens in the messages. Please reduce the length of the messages."
    )
    body = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
    return web.json_response(body, status=400)


def _parse_faults(text: str) -> dict[str, float]:
    """``"429=0.1,drop=0.05"`` -> ``{"429": 0.1, "drop": 0.05}``."""
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {kind.strip(): float(p) for kind, p in pairs}


def main(argv: list[str] | None = None) -> None:
    """``python -m rftgym.agents.testing``: serve until terminated; prints the base URL first."""
    parser = argparse.ArgumentParser(prog="python -m rftgym.agents.testing", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--respond", default="rftgym.agents.testing:echo", help="module:function")
    parser.add_argument("--fault-rate", type=float, default=0.0, help=f"spread evenly over {', '.join(FAULT_KINDS)}")
    parser.add_argument("--faults", default="", help="kind=probability,... e.g. 429=0.1,drop=0.05")
    parser.add_argument("--fault-script", default="", help="comma-separated kinds (or ok) of the first requests")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    parser.add_argument("--weights-version", default="0")
    args = parser.parse_args(argv)
    faults = {kind: args.fault_rate / len(FAULT_KINDS) for kind in FAULT_KINDS} if args.fault_rate else {}
    for kind, p in _parse_faults(args.faults).items():
        faults[kind] = faults.get(kind, 0.0) + p
    server = ScriptedServer(
        load_responder(args.respond),
        host=args.host,
        port=args.port,
        faults=faults,
        fault_script=[k for k in args.fault_script.split(",") if k],
        seed=args.seed,
        slow_seconds=args.slow_seconds,
        weights_version=args.weights_version,
    )

    async def serve_forever() -> None:
        print(await server.serve(), flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve_forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
