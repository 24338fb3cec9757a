"""The OpenAI-compatible chat policy: one ``/chat/completions`` request per turn.

Transient failures (connection errors and resets, timeouts, HTTP 408/429/5xx, a 200 answer that is
not a chat completion) are retried with jittered exponential backoff; any other HTTP error fails at
once. Every request, retries included, has a hard deadline. Whatever goes wrong surfaces as one
:class:`~rftgym.agents.base.PolicyError` with a one-line message; a conversation too long for the
model's context is :class:`~rftgym.agents.base.ContextLengthExceeded`, a truncation, not a failure.

What the model wrote is the model's, never a failure: a message with undecodable bytes, lone
surrogates, content of the wrong type, tool calls that are not objects or have no name or
arguments, is made into a well-formed assistant message (text sanitised, a bad call kept as a call
the env answers with an error), so the episode goes on and its trajectory line stays valid JSON.

Speed: requests go out over one aiohttp session per event loop and answers are parsed with
``json.loads``. The ``openai`` SDK is not on this path: measured against an instant local
endpoint at 64 concurrent episodes, its per-request work (URL and header handling, httpx model
objects; ``create()`` adds pydantic) costs 0.7-2.6 ms of CPU, more than the rollout loop's whole
1 ms-per-turn budget, while aiohttp alone costs ~0.2 ms. The wire format is the same; the test
suite checks the scripted server against the real ``openai`` client.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from rftgym._compat import within
from rftgym.agents.base import ContextLengthExceeded, PolicyError, PolicyResponse
from rftgym.types import Message, ToolCall, ToolSchema, assistant_message, tool_call

_T = TypeVar("_T")

#: HTTP statuses worth retrying besides 5xx: request timeout and rate limiting.
_RETRY_STATUSES = frozenset({408, 429})


class _Transient(Exception):
    """A failure worth another attempt; its message is the one-line reason."""

    def __init__(self, reason: str, *, connection: bool = False):
        super().__init__(reason)
        self.connection = connection


class ChatPolicy:
    """A policy served by an OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, Ollama,
    llama.cpp, ``rftgym serve``, OpenAI itself).

    Connections belong to the event loop that opened them: a call from another loop (a later
    ``asyncio.run()``) opens new ones, and those of a loop close when ``asyncio.run()`` ends it;
    ``await aclose()`` (or ``async with``) closes them sooner.

    ``weights_version`` of each response is the endpoint's top-level ``weights_version`` field
    (``rftgym serve`` reports it after each weight update) or, failing that, its
    ``system_fingerprint``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        temperature: float = 1.0,
        top_p: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        request_token_data: bool = True,
        timeout: float = 60.0,
        attempt_timeout: float | None = None,
        max_attempts: int = 6,
        extra_body: dict[str, Any] | None = None,
        send_reasoning: bool = False,
        path: str = "/chat/completions",
        headers: dict[str, str] | None = None,
    ):
        """Args:
        base_url: The endpoint's base URL, e.g. ``http://127.0.0.1:8000/v1``.
        model: Model name sent with every request.
        api_key: Bearer token; local servers usually ignore it.
        temperature: Sampling temperature.
        top_p: Nucleus sampling mass; None leaves the server's default.
        max_tokens: Cap on generated tokens per turn; None leaves the server's default.
        seed: Sampling seed sent with every request. The same seed on the same prompt gives
            the same sample, so leave it None when sampling a group with separate calls.
        stop: Stop sequence(s); None for none.
        request_token_data: Ask for per-token logprobs (``logprobs: true``) and vLLM's token
            ids (``return_token_ids: true``), which the trainer uses. Set False for
            endpoints that reject unknown fields (OpenAI's own API does).
        timeout: Hard deadline in seconds for one turn, all attempts and backoff included.
        attempt_timeout: Per HTTP attempt, in seconds (connecting, sending and reading the whole
            answer), so a hung attempt is retried within the deadline; None: only the deadline.
        max_attempts: Attempts per turn, the first one included, before giving up.
        extra_body: Further top-level request fields (e.g. ``{"top_k": 20}`` for vLLM);
            they override the fields above.
        path: The chat completion route under ``base_url`` (SageMaker's job runtime: ``/sample``).
        headers: Further HTTP headers sent with every request (a job runtime's job and
            trajectory headers).
        """
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if timeout <= 0 or max_attempts < 1:
            raise ValueError("timeout must be > 0 and max_attempts >= 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.max_attempts = max_attempts
        self.sampling = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "seed": seed}
        self._api_key = api_key
        body: dict[str, Any] = {"model": model, "temperature": temperature}
        optional = {"top_p": top_p, "max_tokens": max_tokens, "seed": seed, "stop": stop}
        body.update((key, value) for key, value in optional.items() if value is not None)
        if request_token_data:
            body.update(logprobs=True, return_token_ids=True)
        body.update(extra_body or {})
        self._body = body
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json", **(headers or {})}
        self.path = path
        self.send_reasoning = send_reasoning
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None, None] | None = None

    def describe(self) -> dict[str, Any]:
        """``name``, ``model``, ``base_url`` and ``sampling`` (for the trajectory's ``policy``)."""
        return {"name": "openai", "model": self.model, "base_url": self.base_url, "sampling": dict(self.sampling)}

    async def act(self, messages: list[Message], tools: list[ToolSchema]) -> PolicyResponse:
        """Sample the next assistant turn."""
        return (await self._complete(messages, tools, 1))[0]

    async def sample(self, messages: list[Message], tools: list[ToolSchema], n: int) -> list[PolicyResponse]:
        """Sample ``n`` alternative next turns in one request (the API's ``n``). A server that
        ignores ``n`` is asked again for the missing samples."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        responses = await self._complete(messages, tools, n)
        missing = n - len(responses)
        if missing > 0:
            more = await asyncio.gather(*(self._complete(messages, tools, 1) for _ in range(missing)))
            responses += [batch[0] for batch in more]
        return responses[:n]

    async def check(self) -> list[str]:
        """Raise PolicyError unless the endpoint answers ``GET /models`` (with the usual retries
        and deadline) with JSON holding a ``data`` list; return the model ids it lists."""
        raw = await self._retried(self._models)
        try:
            data = json.loads(raw)["data"]
            if not isinstance(data, list):
                raise TypeError("data is not a list")
            return [str(model["id"]) for model in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise PolicyError(
                f'endpoint {self.base_url}: GET /models did not answer JSON with a "data" list of models '
                f"({type(exc).__name__}: {exc}); body starts {raw[:80]!r}"
            ) from None

    async def aclose(self) -> None:
        """Close the connections. The policy stays usable: a later call reconnects. Connections
        also close by themselves when ``asyncio.run()`` ends the event loop they belong to."""
        closer, self._closer, self._session, self._session_loop = self._closer, None, None, None
        if closer is not None:
            await closer.aclose()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (sent to a Ray rollout worker) without its connections: they belong to an
        event loop of this process; the copy opens its own on first use."""
        return {**self.__dict__, "_session": None, "_session_loop": None, "_closer": None}

    async def __aenter__(self) -> ChatPolicy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ----- requests -----

    async def _connect(self) -> aiohttp.ClientSession:
        """The HTTP session of the running event loop (connections cannot move between loops)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop:
            session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.attempt_timeout),
                connector=aiohttp.TCPConnector(limit=0),  # concurrency is the rollout loop's to bound
            )
            # Before closing its loop, asyncio.run() closes every suspended async generator: this
            # one then closes the session, so a policy nobody acloses leaks no connections.
            self._closer = _close_at_loop_end(session)
            await self._closer.asend(None)
            self._session, self._session_loop = session, loop
        return self._session

    async def _complete(self, messages: list[Message], tools: list[ToolSchema], n: int) -> list[PolicyResponse]:
        """The responses of one chat completion request, retrying transient failures."""
        if not self.send_reasoning and any("reasoning_content" in m for m in messages):
            messages = [_without_reasoning(m) for m in messages]
        # A shallow copy: the conversation itself is serialised as it is, never copied.
        body = {**self._body, "messages": messages}
        if tools:
            body["tools"] = tools
        if n != 1:
            body["n"] = n
        return await self._retried(lambda: self._chat(body))

    async def _retried(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Await ``attempt()`` until it succeeds, retrying :class:`_Transient` failures with
        jittered exponential backoff, all within the deadline; PolicyError when it gives up."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        failures: list[_Transient] = []

        async def attempts() -> _T:
            async for try_ in retrying:
                with try_:
                    try:
                        return await attempt()
                    except _Transient as exc:
                        failures.append(exc)
                        raise
            raise AssertionError("unreachable: tenacity either returns or raises")

        try:
            return await within(attempts(), self.timeout)
        except _Transient as exc:
            what = "unreachable" if exc.connection else "failed"
            message = f"endpoint {self.base_url} {what} after {len(failures)} attempts: {exc}"
            raise PolicyError(message) from exc.__cause__
        except asyncio.TimeoutError as exc:
            after = f" after {len(failures)} failed attempts; last error: {failures[-1]}" if failures else ""
            message = f"endpoint {self.base_url} gave no answer within the {self.timeout:g} s deadline{after}"
            raise PolicyError(message) from exc

    async def _models(self) -> bytes:
        """One ``GET /models`` attempt; the body."""
        return await self._request("GET", "/models")

    async def _chat(self, body: dict) -> list[PolicyResponse]:
        """One ``POST /chat/completions`` (``self.path``) attempt, parsed."""
        raw = await self._request("POST", self.path, json.dumps(body).encode())
        try:
            # Bytes that are not UTF-8 (a model's broken output) become U+FFFD, not a failure.
            return _responses(json.loads(raw.decode("utf-8", "replace")))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise _Transient(f"invalid response ({problem}); body starts {raw[:80]!r}") from exc

    async def _request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        """One HTTP attempt; returns the body of a 2xx answer. A failure becomes
        :class:`_Transient` or, if retrying cannot help (a 4xx other than 408/429), PolicyError."""
        session = await self._connect()
        try:
            async with session.request(method, self.base_url + path, data=data) as response:
                body = await response.read()
        except asyncio.TimeoutError:
            raise _Transient(
                f"no answer within the {self.attempt_timeout:g} s attempt timeout", connection=True
            ) from None
        except aiohttp.ClientError as exc:  # refused, reset, dropped
            raise _Transient(f"{type(exc).__name__}: {' '.join(str(exc).split())}", connection=True) from exc
        if response.status < 400:
            return body
        detail = _status_detail(response.status, response.reason, body)
        if response.status in _RETRY_STATUSES or response.status >= 500:
            raise _Transient(detail)
        if response.status in (400, 413) and _context_overflow(body):
            raise ContextLengthExceeded(
                f"endpoint {self.base_url}: the conversation exceeds the model's context: {detail}"
            )
        raise PolicyError(f"endpoint {self.base_url} rejected {method} {path}: {detail}", status=response.status)


async def _close_at_loop_end(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Suspends until closed (by ``aclose()`` or the loop's shutdown), then closes ``session``."""
    try:
        yield
    finally:
        await session.close()


# ----- reading the answer -----


def _responses(data: dict) -> list[PolicyResponse]:
    """One PolicyResponse per choice of a parsed ``chat.completion``."""
    choices = data["choices"]
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"'choices' is {choices!r}")
    usage = data.get("usage") or {}
    prompt_ids = data.get("prompt_token_ids")
    version = data.get("weights_version") or data.get("system_fingerprint")
    version = None if version is None else str(version)
    single = len(choices) == 1
    responses = []
    for choice in choices:
        raw = choice["message"]
        token_ids = choice.get("token_ids")
        logprobs = _logprobs(choice.get("logprobs"))
        response = PolicyResponse(
            message=_assistant_message(raw),
            finish_reason=choice.get("finish_reason"),
            # Each sample gets its own list, so that no two responses alias one.
            prompt_token_ids=prompt_ids if single or prompt_ids is None else list(prompt_ids),
            completion_token_ids=token_ids,
            logprobs=logprobs,
            usage=_usage(usage, single, _count(token_ids, logprobs)),
            weights_version=version,
        )
        responses.append(response)
    return responses


def _assistant_message(raw: dict) -> Message:
    """The plain OpenAI dict of a response message: role, content, tool_calls if any, and the
    reasoning text if the server split one out (``reasoning_content``, or ``reasoning`` as newer
    vLLM releases name it), stored as ``reasoning_content``. Whatever the model wrote becomes a
    well-formed message (see the module docstring)."""
    calls = raw.get("tool_calls") or []
    if not isinstance(calls, list):
        calls = [calls]
    content = raw.get("content")
    message = assistant_message(None if content is None else _text(content), [_tool_call(call) for call in calls])
    if not message.get("tool_calls") and message["content"] is None:
        message["content"] = ""  # a model that said nothing: an empty reply, not a broken one
    reasoning = raw.get("reasoning_content") or raw.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        message["reasoning_content"] = _clean(reasoning)
    return message


def _tool_call(call: Any) -> ToolCall:
    """One ``tool_calls`` entry as a well-formed call. A malformed one stays a call (its name ""
    when it has none), so the env answers it with an error the model can read."""
    if not isinstance(call, dict):
        return tool_call("", _text(call))
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    name, arguments, call_id = function.get("name"), function.get("arguments"), call.get("id")
    if not isinstance(arguments, str):  # some servers send an object; the API's type is a JSON string
        arguments = "{}" if arguments is None else _text(arguments)
    return tool_call(
        _clean(name) if isinstance(name, str) else "",
        _clean(arguments),
        _clean(call_id) if isinstance(call_id, str) and call_id else None,
    )


def _text(value: Any) -> str:
    """``value`` as text: a string sanitised, the text parts of a list of content parts joined,
    anything else as JSON (its type name when even that fails)."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list) and value and all(isinstance(part, dict) for part in value):
        parts = [part.get("text") for part in value]
        if all(isinstance(part, str) for part in parts):
            return _clean("".join(parts))
    try:
        return _clean(json.dumps(value, ensure_ascii=False))
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__}>"


def _clean(text: str) -> str:
    """``text`` without lone surrogates (JSON's ``\\ud800`` escapes decode to them, and they
    cannot be written as UTF-8): each becomes U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_reasoning(message: Message) -> Message:
    """``message`` without its ``reasoning_content`` (a shallow copy only when it has one)."""
    if "reasoning_content" not in message:
        return message
    stripped = dict(message)
    del stripped["reasoning_content"]
    return stripped  # type: ignore[return-value]


def _logprobs(logprobs: dict | None) -> list[float] | None:
    content = logprobs.get("content") if logprobs else None
    return None if content is None else [entry["logprob"] for entry in content]


def _usage(usage: dict, single: bool, completion_tokens: int | None) -> dict[str, int] | None:
    """``prompt_tokens``/``completion_tokens`` of one sample. With several choices the server's
    completion count covers them all, so the sample's own count (``completion_tokens``, from its
    token ids or logprobs) replaces it, or it is left out when unknown."""
    counts = {key: usage[key] for key in ("prompt_tokens", "completion_tokens") if key in usage}
    if not single:
        counts.pop("completion_tokens", None)
        if completion_tokens is not None:
            counts["completion_tokens"] = completion_tokens
    return counts or None


def _count(token_ids: list[int] | None, logprobs: list[float] | None) -> int | None:
    if token_ids is not None:
        return len(token_ids)
    return None if logprobs is None else len(logprobs)


# ----- describing failures -----


def _context_overflow(body: bytes) -> bool:
    """Whether an error answer says the conversation exceeds the model's context window
    (OpenAI's code ``context_length_exceeded``; vLLM's "maximum context length" / "maximum model
    length" messages)."""
    text = body.decode("utf-8", "replace").lower()
    return any(
        marker in text for marker in ("context_length_exceeded", "maximum context length", "maximum model length")
    )


def _status_detail(status: int, reason: str | None, body: bytes) -> str:
    """``HTTP 400: <the server's message>``, on one line."""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
    except ValueError:
        message = body.decode("utf-8", "replace")
    text = " ".join(str(message or reason or "").split())
    return f"HTTP {status}: {text[:300]}"
