"""Sandboxes and the warm pool that hands them out.

A :class:`Sandbox` is one container running the supervisor (:mod:`rftgym.sandbox.supervisor`),
talked to over the container's attached stdin/stdout: one long-lived stream, one JSON line each
way per call, no ``docker exec``. A :class:`SandboxPool` keeps ``size`` of them started and ready;
:meth:`SandboxPool.acquire` hands out one that nothing else has touched, and
:meth:`SandboxPool.release` destroys it (containers are never reused).

Every container gets the hardening of :class:`Limits`, the label ``rftgym`` and its owner's label
(for the reaper), ``--rm``, and stdin that closes when its owner disconnects: if the owning
process dies, even by ``kill -9``, the supervisor sees end-of-file and the container goes away.

Three levels of timeout: the supervisor kills the code's processes after ``timeout``; the host
gives up on the container ``HOST_GRACE`` seconds later and destroys it; the supervisor ends the
container after ``Limits.ttl`` seconds whatever happens.
"""

from __future__ import annotations

import atexit
import base64
import concurrent.futures
import itertools
import json
import select
import socket
import struct
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, fields
from pathlib import Path

import docker.errors
from docker.client import DockerClient

from rftgym.sandbox.engine import SandboxError, connect
from rftgym.sandbox.image import DEFAULT_IMAGE, SANDBOX_UID
from rftgym.sandbox.reaper import POOL, containers, labels, remove, watch

SUPERVISOR_SOURCE = (Path(__file__).parent / "supervisor.py").read_text()
# The container's command: read the supervisor's source from the first stdin line and run it
# (so the image needs no rftgym files, and `ps`/`docker ps` show a short command).
BOOTSTRAP = "import json, sys; exec(json.loads(sys.stdin.readline()))"
#: Seconds the host waits past an execution's own timeout before it destroys the container.
HOST_GRACE = 5.0
#: Seconds a container may take from create to the supervisor's ready line.
START_TIMEOUT = 60.0


class SandboxDied(SandboxError):
    """The container or its supervisor went away, or broke the protocol; the sandbox is destroyed."""


@dataclass(frozen=True)
class Limits:
    """Resource limits and lifetime of each container. The other hardening is not optional:
    no network, all capabilities dropped, no-new-privileges, uid 1000, read-only root, ``--init``.

    Attributes:
        memory: cgroup memory limit (swap included), Docker syntax (``"512m"``). OOM kills are reported.
        cpus: CPU share (``1.0`` = one core).
        pids: Most processes and threads at once (fork bombs stop here).
        workdir_size: Size of the tmpfs mounted at ``/work`` (the only writable place besides /tmp).
        tmp_size: Size of the tmpfs at ``/tmp``.
        ttl: Seconds after which a container ends itself, used or not.
        max_output: Bytes of stdout and of stderr kept per execution (head and tail halves).
    """

    memory: str = "512m"
    cpus: float = 1.0
    pids: int = 128
    workdir_size: str = "64m"
    tmp_size: str = "16m"
    ttl: float = 3600.0
    max_output: int = 16384


@dataclass
class ExecResult:
    """What one execution did.

    Attributes:
        stdout, stderr: The output (head and tail when longer than ``Limits.max_output``).
        stdout_truncated, stderr_truncated: Whether the middle was cut out.
        exception: The traceback of an exception the code raised (repl mode), else None.
        exit_code: The process's exit status (negative: killed by that signal); None while a repl lives.
        timed_out: The wall-time limit ran out and every process of the code was killed.
        oom_killed: The memory limit was hit and the kernel killed the code.
        cpu_limited: The CPU-time limit ran out.
        restarted: The repl's variables were lost (its process died before or during this call).
        duration: Seconds the execution took inside the container.
    """

    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    exception: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    oom_killed: bool = False
    cpu_limited: bool = False
    restarted: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """The code ran to its end without an exception, a limit or a non-zero exit."""
        return not (self.exception or self.timed_out or self.oom_killed or self.cpu_limited or self.exit_code)


class _Stream:
    """The container's attached stdin/stdout: writes go to stdin, lines come from stdout frames
    (without a TTY, Docker frames the output: 8-byte header with stream number and length)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""  # raw bytes not yet parsed into frames
        self.stdout = b""
        self.stderr = b""  # kept (last KiB) to explain a dying supervisor

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def has_input(self) -> bool:
        """Whether anything (end of stream included) is waiting to be read: never the case
        between calls of a healthy sandbox, whose supervisor only ever answers requests."""
        return bool(self.buffer or select.select([self.sock], [], [], 0)[0])

    def readline(self, deadline: float) -> bytes:
        while b"\n" not in self.stdout:
            if len(self.buffer) >= 8:
                kind, size = struct.unpack(">BxxxL", self.buffer[:8])
                if len(self.buffer) >= 8 + size:
                    payload, self.buffer = self.buffer[8 : 8 + size], self.buffer[8 + size :]
                    if kind == 2:
                        self.stderr = (self.stderr + payload)[-1024:]
                    else:
                        self.stdout += payload
                    continue
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                raise TimeoutError("no answer from the sandbox in time") from None
            if not chunk:
                raise EOFError("the sandbox closed its stream")
            self.buffer += chunk
        line, self.stdout = self.stdout.split(b"\n", 1)
        return line

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Sandbox:
    """One container with its supervisor. Calls are serialised; any failure of the container
    itself (not of the code) raises :class:`SandboxError` and destroys it."""

    def __init__(self, client: DockerClient, container_id: str, stream: _Stream, limits: Limits):
        self.client, self.id, self.limits = client, container_id, limits
        self._stream = stream
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.alive = True

    def run(self, code: str, timeout: float = 10.0, mode: str = "repl", cpu_time: float | None = None) -> ExecResult:
        """Run Python ``code``.

        Args:
            code: The source.
            timeout: Wall-clock seconds before every process of the code is killed.
            mode: ``"repl"``: in the sandbox's persistent interpreter (variables survive between
                calls; a last bare expression is printed); ``"script"``: a fresh ``python3 -c``.
            cpu_time: CPU seconds the code may use (default: ``timeout``).
        """
        reply = self._call(
            {
                "op": "exec",
                "code": code,
                "mode": mode,
                "timeout": timeout,
                "cpu_time": cpu_time or timeout,
                "max_output": self.limits.max_output,
            },
            timeout + HOST_GRACE,
        )
        return ExecResult(**{f.name: reply[f.name] for f in fields(ExecResult)})

    def write_file(self, path: str, data: str | bytes) -> None:
        """Write ``data`` to ``path`` (relative to ``/work``; parents are created)."""
        raw = data.encode() if isinstance(data, str) else data
        self._call({"op": "write", "path": path, "data": base64.b64encode(raw).decode(), "base64": True})

    def read_file(self, path: str, max_bytes: int = 1 << 20) -> bytes:
        """The first ``max_bytes`` of ``path`` (relative to ``/work``)."""
        return base64.b64decode(self._call({"op": "read", "path": path, "max_bytes": max_bytes})["data"])

    def ping(self) -> None:
        """One round trip to the supervisor."""
        self._call({"op": "ping"})

    def _call(self, request: dict, wait: float = 30.0) -> dict:
        with self._lock:
            if not self.alive:
                raise SandboxDied(f"sandbox {self.id[:12]} was already destroyed")
            request["id"] = rid = next(self._ids)
            deadline = time.monotonic() + wait
            try:
                self._stream.send(json.dumps(request).encode() + b"\n")
                while True:
                    reply = json.loads(self._stream.readline(deadline))
                    if isinstance(reply, dict) and reply.get("id") == rid:
                        break
            except TimeoutError:
                self.destroy()
                raise SandboxDied(f"sandbox {self.id[:12]} did not answer within {wait:g}s; destroyed it") from None
            except (OSError, EOFError, ValueError) as e:
                why = self._stream.stderr.decode(errors="replace").strip().splitlines()[-1:] or [str(e)]
                self.destroy()
                raise SandboxDied(f"the sandbox's supervisor died or broke the protocol ({why[0]})") from None
        if not reply.get("ok"):
            raise SandboxError(reply.get("error", "the supervisor refused the request"))
        return reply

    def destroy(self) -> None:
        """Remove the container and wait until it is gone (idempotent)."""
        self.alive = False
        try:
            remove(self.client, [{"Id": self.id}])
        finally:
            self._stream.close()


_POOLS: weakref.WeakSet[SandboxPool] = weakref.WeakSet()


class SandboxPool:
    """A warm pool of started sandboxes of one image. Thread-safe; a context manager.

    Args:
        image: Image tag (:data:`~rftgym.sandbox.image.DEFAULT_IMAGE`; build it with
            ``rftgym sandbox build-image``).
        size: Sandboxes kept started and waiting (more are started while callers wait).
        limits: Resource limits of every container.
        client: Docker client (default: from the environment).
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        size: int = 2,
        limits: Limits = Limits(),
        client: DockerClient | None = None,
    ):
        self.client = client or connect()
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise SandboxError(
                f"no image {image!r}: build it with `rftgym sandbox build-image"
                f"{'' if image == DEFAULT_IMAGE else ' --tag ' + image}`"
            ) from None
        self.image, self.size, self.limits = image, size, limits
        self.owner = watch()  # removes our containers if this process dies
        self.id = uuid.uuid4().hex[:12]  # labels this pool's containers, for close()
        self._ready: list[Sandbox] = []
        self._starting = self._waiting = 0
        self._error: Exception | None = None
        self._closed = False
        self._live: set[Sandbox] = set()
        self._cond = threading.Condition()
        self._starter = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="rftgym-sandbox-start")
        self._reaper = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="rftgym-sandbox-remove")
        _POOLS.add(self)
        self._refill()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed pool hands out nothing)."""
        return self._closed

    def acquire(self, timeout: float = START_TIMEOUT) -> Sandbox:
        """A started sandbox that no one has used. Raises :class:`SandboxError` if none can be started."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                self._refill()
                while not self._ready:
                    if self._closed:
                        raise SandboxError("the sandbox pool is closed")
                    if self._error is not None and not self._starting:
                        raise SandboxError(f"cannot start a sandbox: {self._error}") from self._error
                    if not self._cond.wait(max(deadline - time.monotonic(), 0)) and time.monotonic() >= deadline:
                        raise SandboxError(f"no sandbox became ready within {timeout:g}s")
                sandbox = self._ready.pop(0)
            finally:
                self._waiting -= 1
            self._refill()
        if sandbox._stream.has_input():  # it died waiting (time-to-live, `sandbox gc --all`): its stream ended
            self.release(sandbox)
            return self.acquire(max(deadline - time.monotonic(), 0.001))
        return sandbox

    def release(self, sandbox: Sandbox) -> None:
        """Destroy ``sandbox`` in the background (a used sandbox is never handed out again)."""
        sandbox.alive = False
        with self._cond:
            self._live.discard(sandbox)
        self._reaper.submit(sandbox.destroy)

    def close(self) -> None:
        """Destroy every container of the pool, waiting and used ones, and wait until they are gone.
        A last sweep by label catches any container the bookkeeping missed (one created while the
        interpreter shut down)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._starter.shutdown(wait=True, cancel_futures=True)
        self._reaper.shutdown(wait=True)
        with self._cond:
            doomed, self._ready = list(self._live), []
            self._live.clear()
        # Plain threads: executors refuse new work once the interpreter is shutting down (atexit).
        removers = [threading.Thread(target=s.destroy) for s in doomed]
        for thread in removers:
            thread.start()
        for thread in removers:
            thread.join()
        remove(self.client, containers(self.client, f"{POOL}={self.id}"))

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- starting containers -----

    def _refill(self) -> None:
        """Start containers until ready + starting covers ``size`` plus the callers waiting (lock held)."""
        with self._cond:
            while not self._closed and len(self._ready) + self._starting < self.size + self._waiting:
                self._starting += 1
                self._starter.submit(self._start_one)

    def _start_one(self) -> None:
        try:
            sandbox = self._create()
        except Exception as e:  # noted for acquire(); an engine hiccup is retried on the next acquire
            with self._cond:
                self._starting -= 1
                self._error = e
                self._cond.notify_all()
            return
        with self._cond:
            self._starting -= 1
            self._error = None
            if not self._closed:
                self._ready.append(sandbox)
                self._live.add(sandbox)
                self._cond.notify_all()
                return
        sandbox.destroy()  # the pool closed while it started

    def _create(self) -> Sandbox:
        """A started sandbox: a new container, attached, its supervisor sent and ready. A container
        that fails on the way is removed at once."""
        cid = self._new_container()
        try:
            raw = self.client.api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            stream = _Stream(getattr(raw, "_sock", raw))
            self.client.api.start(cid)
            stream.send(json.dumps(SUPERVISOR_SOURCE).encode() + b"\n")
            sandbox = Sandbox(self.client, cid, stream, self.limits)
            hello = json.loads(stream.readline(time.monotonic() + START_TIMEOUT))
            if hello != {"ready": True}:
                raise SandboxDied(f"unexpected first line from the supervisor: {hello!r}")
        except BaseException:
            remove(self.client, [{"Id": cid}])
            raise
        return sandbox

    def _new_container(self) -> str:
        """Create (not start) a container with every hardening of :class:`Limits`; its id."""
        api, limits = self.client.api, self.limits
        host_config = api.create_host_config(
            auto_remove=True,
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            init=True,
            pids_limit=limits.pids,
            mem_limit=limits.memory,
            memswap_limit=limits.memory,
            nano_cpus=int(limits.cpus * 1e9),
            tmpfs={
                "/work": f"size={limits.workdir_size},uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700",
                "/tmp": f"size={limits.tmp_size},mode=1777",
            },
        )
        container = api.create_container(
            self.image,
            command=["python3", "-I", "-u", "-c", BOOTSTRAP, str(limits.ttl)],
            # stdin_open without detach also sets StdinOnce: stdin closes when our attachment ends.
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            working_dir="/work",
            stdin_open=True,
            detach=False,
            tty=False,
            network_disabled=True,
            environment={"HOME": "/work", "PYTHONDONTWRITEBYTECODE": "1"},
            labels=labels(self.owner, limits.ttl, self.id),
            host_config=host_config,
        )
        return str(container["Id"])


@atexit.register
def _close_all_pools() -> None:
    """At interpreter exit (Ctrl-C included) no container of ours outlives the process."""
    for pool in list(_POOLS):
        pool.close()
