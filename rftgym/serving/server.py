"""``rftgym serve``: an OpenAI-compatible chat endpoint backed by a transformers model.

Routes:

* ``POST /v1/chat/completions``: the chat template renders ``messages`` and ``tools``
  (:func:`rftgym.models.chat.render_ids`, as the trainer does); a completion that starts with
  ``<think>...</think>`` gives that text as the message's ``reasoning_content`` (as vLLM's reasoning
  parsers do), and ``<tool_call>{json}</tool_call>`` blocks in the rest come back as
  ``tool_calls`` (see :func:`completion_message`). Honours
  ``n``, ``temperature`` (0 = greedy), ``top_p``, ``max_tokens`` (or ``max_completion_tokens``),
  ``stop``, ``seed`` (choice ``i`` samples with ``seed + i``), ``logprobs``, ``top_logprobs``
  (0-20), and vLLM's ``return_token_ids`` (top-level ``prompt_token_ids``, per-choice
  ``token_ids``). Every answer carries ``weights_version`` (also as ``system_fingerprint``).
  Fields that change nothing here are accepted: ``user``, ``metadata``, ``store``, and the
  neutral value (or null) of ``stream`` (false), ``tool_choice`` ("auto"), ``parallel_tool_calls``
  (true), ``frequency_penalty`` and ``presence_penalty`` (0), ``logit_bias`` ({}),
  ``response_format`` ({"type": "text"}) (:data:`NEUTRAL`). Any other field, or another value of
  those, is answered with HTTP 400 naming it: a setting the caller believes in is never ignored.
  A request whose client disconnects stops being decoded (its rows end at the next step).
* ``GET /health``: ``{"status": "ok", "model", "weights_version"}`` once the server listens.
* ``GET /v1/models``: the served model.
* ``GET /v1/weights``: ``{"weights_version", "path"}``; ``POST /v1/weights`` with
  ``{"path": CHECKPOINT}`` loads new weights (hot reload) and answers with the new version.

Every error, on every route (an unknown path: 404, a wrong method: 405), is an OpenAI-style JSON
body ``{"error": {"message", "type", "code"}}``.

Concurrent requests are decoded together: a batcher takes every waiting request (up to
``max_batch_size`` rows, a request with ``n`` choices being ``n`` rows) into one batch, after
waiting ``batch_window`` seconds from the first one so that requests sent together (the
episodes of a rollout) are decoded together. Batches
and weight loads run one at a time on one worker thread, so a reload happens between batches and
every answer comes from exactly one weights version. With ``watch`` set, the newest complete
checkpoint in that folder (see :mod:`rftgym.models.checkpoints`) is loaded as soon as it appears.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from rftgym._background import BackgroundServer
from rftgym.agents.text_tools import parse_tool_calls
from rftgym.models.chat import eos_token_ids, render_ids
from rftgym.models.checkpoints import checkpoint_info, latest_checkpoint
from rftgym.models.tiny import resolve_model
from rftgym.serving.generation import Completion, Generator, SamplingParams
from rftgym.types import Message, assistant_message

#: The block a reasoning model opens its completion with (Qwen3, DeepSeek-R1; the tiny template).
THINK_START, THINK_END = "<think>", "</think>"


#: Request fields the chat route reads.
SUPPORTED = frozenset(
    {
        "model",
        "messages",
        "tools",
        "n",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "logprobs",
        "top_logprobs",
        "return_token_ids",
    }
)
#: Fields accepted without effect: bookkeeping for the caller.
IGNORED = frozenset({"user", "metadata", "store"})
#: Fields accepted when null or at the value that changes nothing (the only thing served).
NEUTRAL: dict[str, Any] = {
    "stream": False,
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "logit_bias": {},
    "response_format": {"type": "text"},
}
#: The most ``top_logprobs`` a request may ask (OpenAI's limit).
MAX_TOP_LOGPROBS = 20


class BadRequest(ValueError):
    """A request the server cannot serve; answered with HTTP 400 and this message."""


@dataclass
class _Job:
    prompt: list[int]
    params: list[SamplingParams]  # one per choice
    future: asyncio.Future[tuple[list[Completion], str]]


class ModelServer(BackgroundServer):
    """The endpoint. Serve it from a background thread (``with ModelServer(...) as server:``,
    ``server.base_url``) or on your own event loop (``await server.serve()``)."""

    #: Set when requests wait for the batcher; made by ``serve`` on the loop that serves.
    _wake: asyncio.Event

    def __init__(
        self,
        model: str,
        *,
        served_name: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        device: str | None = None,
        dtype: str = "auto",
        max_batch_size: int = 64,
        default_max_tokens: int = 512,
        batch_window: float = 0.01,
        watch: str | Path | None = None,
        watch_interval: float = 1.0,
        seed: int | None = None,
    ):
        """Load the model (``"tiny"``, a local HF folder or a hub id) and its tokenizer.

        Args:
            model: What to serve; ``"tiny"`` builds the tiny test model (no download).
            served_name: The model name clients send and ``/v1/models`` lists (default: ``model``).
                Requests naming another model get HTTP 404.
            host: Interface to listen on.
            port: TCP port; 0 picks a free one (see ``base_url`` once started).
            device: ``cuda``, ``cpu``...; default: cuda when available.
            dtype: ``auto`` (bf16 on GPU, fp32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
            max_batch_size: Most rows (choices) decoded together.
            default_max_tokens: Token budget of a request that sets none.
            batch_window: Seconds a batch waits for more requests after its first one arrived.
            watch: A folder of checkpoints to hot-reload from (the trainer's ``checkpoints/``).
            watch_interval: Seconds between looks at ``watch``.
            seed: Seeds the sampling of requests without a ``seed`` (in the order rows reach the
                sampler, which concurrent clients do not fix); None: fresh randomness.
        """
        import torch
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        self.model_name = served_name or model
        self.host, self.port = host, port
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype
        self.max_batch_size = max_batch_size
        self.default_max_tokens = default_max_tokens
        self.batch_window = batch_window
        self.watch = Path(watch) if watch else None
        self.watch_interval = watch_interval
        self.path = resolve_model(model)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(self.path)
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{model}: the tokenizer has no chat template")
        self.generator = Generator(
            self._load_model(self.path), self.tokenizer, eos_token_ids(self.tokenizer, self.path), seed
        )
        info = checkpoint_info(self.path)
        self.weights_version = info["version"] if info else "0"
        self.base_url = ""
        #: Batches decoded so far (concurrent requests share one).
        self.batches = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rftgym-serve")
        self._pending: collections.deque[_Job] = collections.deque()
        #: Token id -> its text, for logprob entries (the tokenizer never changes, weights do).
        self._token_texts: dict[int, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # ----- weights -----

    def _load_model(self, path: str) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        dtype = {
            "auto": torch.bfloat16 if self.device.startswith("cuda") else torch.float32,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
        }[self.dtype]
        model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)  # Any: its stubs reject .to(str)
        return model.to(self.device).eval()

    def load(self, path: str | Path, state_dict: dict[str, Any] | None = None) -> str:
        """Swap in the weights of ``path`` (an HF model folder of the same tokenizer); returns the
        new weights version (the checkpoint's, else the folder's name). Call it from the worker
        thread (``POST /v1/weights`` does) or while nothing is being served.

        ``state_dict``: the same weights already in memory (a trainer's in this process, same
        architecture): copied into the served model instead of reading ``path`` back from disk.
        """
        path = Path(path)
        if not (path / "config.json").is_file():
            raise BadRequest(f"{path} is not a model folder (no config.json)")
        if state_dict is None:
            self.generator.model = self._load_model(str(path))
        else:
            self.generator.model.load_state_dict(state_dict)  # copies, converting dtype and device
        info = checkpoint_info(path)
        self.path, self.weights_version = str(path), info["version"] if info else path.name
        return self.weights_version

    async def reload(self, path: str | Path) -> str:
        """Load ``path`` on the worker thread, between batches; returns the new version."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.load, path)

    def run_on_worker(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)`` on the worker thread, between batches, and return its result.

        For a trainer that shares the process (``rftgym.training.online``): on CPU, torch keeps
        an OpenMP thread team per calling thread, and two teams on the same cores make every op
        of both wait for cores (about 2x slower on a 2-core machine), so all torch work belongs
        on this one thread. Blocks the calling thread; do not call it from the server's event loop.
        """
        return self._executor.submit(fn, *args, **kwargs).result()

    # ----- running it (start/stop/with: BackgroundServer) -----

    async def serve(self) -> str:
        """Start listening on the running event loop; returns (and sets) ``base_url``."""
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_json_errors])
        app.router.add_get("/health", self._health)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/weights", self._weights)
        app.router.add_post("/v1/weights", self._load_weights)
        # handler_cancellation: a client that disconnects cancels its handler, so its job is dropped.
        base_url = await self.listen(app, shutdown_timeout=0.5, handler_cancellation=True)
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._batcher())]
        if self.watch is not None:
            self._tasks.append(asyncio.create_task(self._watcher(self.watch)))
        return base_url

    async def close(self) -> None:
        """Stop serving (in-flight requests are dropped)."""
        for task in self._tasks:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self._executor.shutdown(wait=True)

    async def _batcher(self) -> None:
        """Take every waiting request into one batch, decode it on the worker thread, answer."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.batch_window)
            while self._pending and self._pending[0].future.done():  # its client went away
                self._pending.popleft()
            if not self._pending:
                self._wake.clear()
                continue
            jobs = [self._pending.popleft()]
            rows = len(jobs[0].params)
            while self._pending and rows + len(self._pending[0].params) <= self.max_batch_size:
                job = self._pending.popleft()
                if not job.future.done():
                    jobs.append(job)
                    rows += len(job.params)
            if not self._pending:
                self._wake.clear()
            prompts = [job.prompt for job in jobs for _ in job.params]
            params = [p for job in jobs for p in job.params]
            gone = [job.future.done for job in jobs for _ in job.params]  # asked from the worker thread
            version = self.weights_version
            self.batches += 1
            try:
                completions = await loop.run_in_executor(
                    self._executor, self.generator.generate, prompts, params, lambda row, gone=gone: gone[row]()
                )
            except Exception as exc:  # noqa: BLE001 - answered as HTTP 500 to the batch's requests
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job in jobs:
                mine, completions = completions[: len(job.params)], completions[len(job.params) :]
                if not job.future.done():  # the client may have gone
                    job.future.set_result((mine, version))

    async def _watcher(self, folder: Path) -> None:
        """Load the newest complete checkpoint of ``folder`` whenever it changes."""
        while True:
            latest = latest_checkpoint(folder)
            if latest is not None and str(latest) != self.path:
                try:
                    version = await self.reload(latest)
                    print(f"rftgym serve: loaded {latest} (weights {version})", file=sys.stderr, flush=True)
                except Exception as exc:  # noqa: BLE001 - a bad checkpoint must not stop serving
                    print(f"rftgym serve: cannot load {latest}: {exc}", file=sys.stderr, flush=True)
            await asyncio.sleep(self.watch_interval)

    # ----- handlers -----

    async def _chat(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object")
            if body.get("model") not in (None, self.model_name):
                return _error(
                    404, f"model {body.get('model')!r} is not served here; this server has {self.model_name!r}"
                )
            _check_fields(body)
            prompt = render_ids(self.tokenizer, _messages(body), body.get("tools") or None)
            params = self._params(body, len(prompt))
        except (BadRequest, ValueError, TypeError) as exc:
            return _error(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a template error (raise_exception in Jinja) is the caller's
            return _error(400, f"cannot render the chat template: {exc}")
        job = _Job(prompt, params, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._wake.set()
        try:
            completions, version = await job.future  # cancelled with the handler when the client goes
        except Exception as exc:  # noqa: BLE001
            return _error(500, f"generation failed: {type(exc).__name__}: {exc}")
        return web.json_response(self._completion(body, prompt, completions, version))

    def _params(self, body: dict[str, Any], prompt_length: int) -> list[SamplingParams]:
        """One SamplingParams per choice, checked; BadRequest names the first bad field."""
        n = _number(body, "n", 1, int, lambda v: v >= 1, ">= 1")
        temperature = _number(body, "temperature", 1.0, float, lambda v: v >= 0, ">= 0")
        top_p = _number(body, "top_p", 1.0, float, lambda v: 0 < v <= 1, "in (0, 1]")
        budget_key = "max_tokens" if body.get("max_tokens") is not None else "max_completion_tokens"
        max_tokens = _number(body, budget_key, self.default_max_tokens, int, lambda v: v >= 1, ">= 1")
        room = self.generator.model.config.max_position_embeddings - prompt_length
        if room < 1:
            raise BadRequest(
                f"the prompt has {prompt_length} tokens, more than the model's context "
                f"({self.generator.model.config.max_position_embeddings})"
            )
        seed = _number(body, "seed", None, int, lambda v: True, "")
        top_logprobs = _number(
            body, "top_logprobs", 0, int, lambda v: 0 <= v <= MAX_TOP_LOGPROBS, f"between 0 and {MAX_TOP_LOGPROBS}"
        )
        if top_logprobs and not body.get("logprobs"):
            raise BadRequest("top_logprobs needs logprobs: true")
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise BadRequest("stop must be a string or a list of non-empty strings")
        return [
            SamplingParams(
                temperature, top_p, min(max_tokens, room), stop, None if seed is None else seed + i, top_logprobs
            )
            for i in range(n)
        ]

    def _completion(
        self, body: dict[str, Any], prompt: list[int], completions: list[Completion], version: str
    ) -> dict[str, Any]:
        want_ids = bool(body.get("return_token_ids"))
        choices = [self._choice(i, c, want_ids, bool(body.get("logprobs"))) for i, c in enumerate(completions)]
        generated = sum(len(c.token_ids) for c in completions)
        response: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "system_fingerprint": version,
            "weights_version": version,
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": generated,
                "total_tokens": len(prompt) + generated,
            },
        }
        if want_ids:
            response["prompt_token_ids"] = prompt
        return response

    def _choice(self, index: int, completion: Completion, want_ids: bool, want_logprobs: bool) -> dict[str, Any]:
        message = completion_message(completion.text)
        called = "tool_calls" in message and completion.finish_reason == "stop"
        choice: dict[str, Any] = {
            "index": index,
            "message": message,
            "logprobs": None,
            "finish_reason": "tool_calls" if called else completion.finish_reason,
        }
        if want_logprobs:
            tops = completion.top_logprobs or [[] for _ in completion.token_ids]
            entries = [
                {**self._logprob_entry(t, lp), "top_logprobs": [self._logprob_entry(*pair) for pair in best]}
                for t, lp, best in zip(completion.token_ids, completion.logprobs, tops)
            ]
            choice["logprobs"] = {"content": entries}
        if want_ids:
            choice["token_ids"] = completion.token_ids
        return choice

    def _logprob_entry(self, token: int, logprob: float) -> dict[str, Any]:
        text = self._token_texts.get(token)
        if text is None:  # one decode per token id, not per sampled token
            text = self._token_texts[token] = self.tokenizer.decode([token], skip_special_tokens=False)
        return {"token": text, "logprob": logprob, "bytes": list(text.encode()), "top_logprobs": []}

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "model": self.model_name, "weights_version": self.weights_version})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.model_name,
                        "object": "model",
                        "created": 0,
                        "owned_by": "rftgym",
                        "weights_version": self.weights_version,
                    }
                ],
            }
        )

    async def _weights(self, request: web.Request) -> web.Response:
        return web.json_response({"weights_version": self.weights_version, "path": self.path})

    async def _load_weights(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            path = body["path"] if isinstance(body, dict) else None
            if not isinstance(path, str):
                raise BadRequest('POST /v1/weights takes {"path": "<checkpoint folder>"}')
            version = await self.reload(path)
        except (BadRequest, ValueError, KeyError, OSError) as exc:
            return _error(400, f"cannot load weights: {exc}")
        return web.json_response({"weights_version": version, "path": self.path})


def completion_message(text: str) -> Message:
    """The assistant message of a completion's text, as vLLM's reasoning and tool-call parsers
    give it: a leading ``<think>...</think>`` block becomes ``reasoning_content`` and the
    ``<tool_call>`` blocks of the rest become ``tool_calls`` (the tiny template renders both back
    as they were sampled)."""
    reasoning, rest = _split_reasoning(text)
    content, calls = parse_tool_calls(rest)
    message = assistant_message(content, calls)
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return message


def _split_reasoning(text: str) -> tuple[str | None, str]:
    """``(reasoning, rest)`` of a completion that starts with ``<think>reasoning</think>``, else
    ``(None, text)``: a block never closed (the budget ran out) or not at the start stays in the
    content, so the env sees what the model wrote."""
    if not text.startswith(THINK_START):
        return None, text
    reasoning, closed, rest = text[len(THINK_START) :].partition(THINK_END)
    return (reasoning, rest) if closed else (None, text)


def _messages(body: dict[str, Any]) -> list[Message]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise BadRequest("messages must be a non-empty list of objects with a role")
    return messages


def _check_fields(body: dict[str, Any]) -> None:
    """BadRequest for the first field the server would otherwise ignore (see the module doc)."""
    for key, value in body.items():
        if key in SUPPORTED or key in IGNORED or value is None:
            continue
        if key not in NEUTRAL:
            raise BadRequest(f"unsupported field {key!r}; this server reads {', '.join(sorted(SUPPORTED))}")
        if value != NEUTRAL[key] or isinstance(value, bool) is not isinstance(NEUTRAL[key], bool):
            raise BadRequest(f"{key}={json.dumps(value)} is not supported; only {json.dumps(NEUTRAL[key])} is")


def _number(body: dict[str, Any], key: str, default: Any, kind: type, ok: Callable[[Any], bool], rule: str) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise BadRequest(f"{key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    if not ok(value):
        raise BadRequest(f"{key} must be {rule}, got {value!r}")
    return kind(value)


@web.middleware
async def _json_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Every route's errors as JSON: aiohttp's own (404 unknown path, 405 wrong method, 413 too
    large) and anything a handler raised (500)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, f"{exc.reason}: {request.method} {request.path}")
    except Exception as exc:  # noqa: BLE001 - answered, not raised: a client always gets JSON
        return _error(500, f"{type(exc).__name__}: {exc}")


def _error(status: int, message: str) -> web.Response:
    kind = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error"}.get(
        status, "server_error"
    )
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


def serve_forever(model: str, **kwargs: Any) -> None:
    """Run the endpoint until interrupted; prints its base URL as the first stdout line."""
    server = ModelServer(model, **kwargs)

    async def main() -> None:
        url = await server.serve()
        print(url, flush=True)
        print(
            f"rftgym serve: {server.model_name} from {server.path} on {server.device} "
            f"(weights {server.weights_version})",
            file=sys.stderr,
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
