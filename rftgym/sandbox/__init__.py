"""Docker sandbox: a warm pool of hardened containers, each with a supervisor reached over one
long-lived stream; image build without a registry; a reaper so no container leaks.

    with SandboxPool() as pool:
        sandbox = pool.acquire()                  # fresh, started, never used by anyone else
        result = sandbox.run("x = 2\\nx * 21")     # ExecResult(stdout="42\\n", ...)
        pool.release(sandbox)                     # destroyed, never reused
"""

from __future__ import annotations

import threading

from rftgym.sandbox.engine import DockerUnavailable, SandboxError, connect
from rftgym.sandbox.image import DEFAULT_IMAGE, ImageBuildError, build_image
from rftgym.sandbox.pool import ExecResult, Limits, Sandbox, SandboxDied, SandboxPool
from rftgym.sandbox.reaper import reap

_shared: dict[tuple[str, Limits], SandboxPool] = {}
_shared_lock = threading.Lock()


def shared_pool(image: str = DEFAULT_IMAGE, size: int = 2, limits: Limits = Limits()) -> SandboxPool:
    """The process-wide pool of ``image`` with ``limits`` (created on first use, ``size`` from that
    first call), so the envs of one process share warm containers. Closed at interpreter exit."""
    with _shared_lock:
        pool = _shared.get((image, limits))
        if pool is None or pool.closed:
            pool = _shared[(image, limits)] = SandboxPool(image, size, limits)
        return pool


__all__ = [
    "DEFAULT_IMAGE",
    "DockerUnavailable",
    "ExecResult",
    "ImageBuildError",
    "Limits",
    "Sandbox",
    "SandboxDied",
    "SandboxError",
    "SandboxPool",
    "build_image",
    "connect",
    "reap",
    "shared_pool",
]
