"""Reaching the Docker engine, and the sandbox's own errors.

The lowest module of the sandbox: the pool, the reaper's watcher process and the image builder all
connect through :func:`connect`, so a missing engine reads the same everywhere (how to start one).
"""

from __future__ import annotations

import docker.errors
from docker.client import DockerClient

DOCKER_HINT = (
    "start it with `sudo dockerd &` (or `sudo systemctl start docker`), or run scripts/ensure-docker.sh; "
    "set DOCKER_HOST for another engine"
)


class SandboxError(Exception):
    """The sandbox failed (not the code in it: that is reported in an ``ExecResult``)."""


class DockerUnavailable(SandboxError):
    """No Docker engine answers."""


def connect(timeout: float = 30.0) -> DockerClient:
    """A client of the engine named by the environment; :class:`DockerUnavailable` says how to start one."""
    try:
        client = DockerClient.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as e:
        raise DockerUnavailable(f"cannot reach the Docker engine ({e}); {DOCKER_HINT}") from None
    return client
