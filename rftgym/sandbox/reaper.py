"""No leaked containers: labels, a watcher process per owner, and garbage collection.

Every container carries the label ``rftgym`` plus ``rftgym.owner`` (host, pid and start time of
the process that made it) and ``rftgym.expires`` (when its time-to-live ends). Three things remove
containers, so none outlives its use:

* the pool itself, on ``close()``, Ctrl-C and interpreter exit;
* a *watcher* (``python -m rftgym.sandbox.reaper OWNER``), started once per owning process, that
  waits for the owner's end (its stdin pipe closes when the owner dies, ``kill -9`` included) and
  then removes the owner's containers, the ones caught half-created too;
* :func:`reap` (``rftgym sandbox gc``): labelled containers whose owner is gone or whose
  time-to-live has passed, or all of them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import docker.errors
import requests
from docker.client import DockerClient

from rftgym.sandbox.engine import connect

LABEL = "rftgym"
OWNER = "rftgym.owner"
EXPIRES = "rftgym.expires"
POOL = "rftgym.pool"

# This process's watcher and the owner token it watches for (a forked child needs its own).
_watcher: tuple[subprocess.Popen[bytes], str] | None = None
_watcher_lock = threading.Lock()


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" if it does not exist): with the pid it
    names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_token(pid: int | None = None) -> str:
    """``host:pid:start`` of this process (or ``pid``)."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(token: str) -> bool:
    """Whether the process a token names still runs. Owners on other hosts count as alive."""
    host, _, rest = token.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return _start_time(int(pid)) == start != ""


def labels(owner: str, ttl: float, pool: str = "") -> dict[str, str]:
    """The labels of a new container (of the pool with id ``pool``)."""
    return {LABEL: "1", OWNER: owner, EXPIRES: str(int(time.time() + ttl)), POOL: pool}


def watch() -> str:
    """Start this process's watcher (once) and return the owner token for its containers."""
    global _watcher
    token = owner_token()
    with _watcher_lock:
        if _watcher is None or _watcher[0].poll() is not None or _watcher[1] != token:
            process = subprocess.Popen(
                [sys.executable, "-m", "rftgym.sandbox.reaper", token],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            _watcher = (process, token)
    return token


def containers(client: DockerClient, label: str = LABEL) -> list[dict]:
    """Containers with ``label`` (``key`` or ``key=value``), running or not, as the engine lists
    them (``Id``, ``Labels``, ``State``...): one call, no per-container inspection to race with removals."""
    return client.api.containers(all=True, filters={"label": label})


def remove(client: DockerClient, found: list[dict]) -> int:
    """Force-remove containers and wait until they are gone; returns how many this call removed
    (not those already gone or already being removed by the engine)."""
    removed = 0
    for container in found:
        try:
            client.api.remove_container(container["Id"], force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            try:  # 409: its --rm removal is under way; wait for the end of it
                client.api.wait(container["Id"], timeout=30, condition="removed")
            except (docker.errors.NotFound, requests.exceptions.RequestException):
                pass
    return removed


def reap(client: DockerClient, everything: bool = False) -> int:
    """Remove labelled containers whose owner process is gone or whose time-to-live has passed
    (all labelled containers with ``everything``). Returns how many were removed."""
    now = time.time()
    doomed = []
    for container in containers(client):
        tags = container["Labels"] or {}
        expired = float(tags.get(EXPIRES, "inf")) < now
        if everything or expired or not owner_alive(tags.get(OWNER, "")):
            doomed.append(container)
    return remove(client, doomed)


def main(argv: list[str]) -> int:
    """The watcher: wait for stdin to close (the owner ended), then remove the owner's containers."""
    owner = argv[0]
    try:
        while sys.stdin.buffer.read(1 << 16):
            pass
    except OSError:
        pass
    client = connect()
    # Containers of the owner are removed until none is left: one being created at the moment of
    # the owner's death shows up a moment later.
    for _ in range(3):
        remove(client, containers(client, f"{OWNER}={owner}"))
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
