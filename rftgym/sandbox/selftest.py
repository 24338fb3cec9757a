"""Hostile code against the live sandbox: each check attacks it one way and says whether the
sandbox held (``rftgym sandbox selftest`` prints the table; the tests run every check).

Each check takes a :class:`~rftgym.sandbox.SandboxPool`, uses fresh sandboxes from it, releases
them, and returns ``(held, detail)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import docker.errors

from rftgym.sandbox.engine import SandboxError
from rftgym.sandbox.pool import ExecResult, SandboxDied, SandboxPool

Check = Callable[[SandboxPool], "tuple[bool, str]"]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn

    return register


def _attack(pool: SandboxPool, code: str, timeout: float, cpu_time: float | None = None) -> tuple[ExecResult, bool]:
    """Run ``code`` in a fresh sandbox (``timeout`` and ``cpu_time`` as in :meth:`~rftgym.sandbox.pool.Sandbox.run`):
    its result, and whether the sandbox still answers and computes afterwards."""
    sandbox = pool.acquire()
    try:
        result = sandbox.run(code, timeout=timeout, cpu_time=cpu_time)
        return result, sandbox.run("6 * 7", timeout=10).stdout.strip() == "42"
    finally:
        pool.release(sandbox)


@check("fork bomb")
def fork_bomb(pool: SandboxPool) -> tuple[bool, str]:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result, usable = _attack(pool, code, timeout=3)
    return result.timed_out and usable, f"timed_out={result.timed_out}, usable after: {usable}"


@check("memory bomb")
def memory_bomb(pool: SandboxPool) -> tuple[bool, str]:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(b'x' * (64 << 20)))"
    result, usable = _attack(pool, code, timeout=30)
    return result.oom_killed and usable, f"oom_killed={result.oom_killed}, usable after: {usable}"


@check("infinite loop")
def infinite_loop(pool: SandboxPool) -> tuple[bool, str]:
    result, usable = _attack(pool, "while True:\n    pass", timeout=1)
    return result.timed_out and usable, f"timed_out={result.timed_out} after {result.duration:.1f}s"


@check("CPU spin (CPU-time limit)")
def cpu_spin(pool: SandboxPool) -> tuple[bool, str]:
    result, usable = _attack(pool, "while True:\n    pass", timeout=30, cpu_time=1)
    return (
        result.cpu_limited and not result.timed_out and usable,
        f"cpu_limited={result.cpu_limited} after {result.duration:.1f}s wall",
    )


@check("output flood")
def output_flood(pool: SandboxPool) -> tuple[bool, str]:
    code = "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 100_000)"
    result, usable = _attack(pool, code, timeout=30)
    kept = len(result.stdout)
    held = result.stdout_truncated and kept <= pool.limits.max_output + 100 and usable
    return held, f"200 MB printed, {kept} characters kept, truncated={result.stdout_truncated}"


@check("disk fill")
def disk_fill(pool: SandboxPool) -> tuple[bool, str]:
    code = "with open('/work/fill', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))"
    result, usable = _attack(pool, code, timeout=30)
    return "No space left" in (result.exception or "") and usable, (
        result.exception or "no error"
    ).strip().splitlines()[-1]


def _probe(pool: SandboxPool, targets: list, attempt: str) -> tuple[bool, str]:
    """In a fresh sandbox, run ``attempt`` (code using ``target``) for each target; the sandbox
    held if every attempt raised OSError."""
    code = (
        f"import socket\nfor target in {targets!r}:\n    try:\n        {attempt}\n        print('GOT', target)\n"
        "    except OSError as e:\n        print('blocked', target, type(e).__name__, e.strerror)"
    )
    result, _ = _attack(pool, code, timeout=20)
    held = "GOT" not in result.stdout and result.stdout.count("blocked") == len(targets)
    return held, result.stdout.strip().replace("\n", "; ")


@check("network access")
def network_access(pool: SandboxPool) -> tuple[bool, str]:
    return _probe(pool, [("1.1.1.1", 53), ("deb.debian.org", 80)], "socket.create_connection(target, timeout=3)")


@check("reading host files")
def host_files(pool: SandboxPool) -> tuple[bool, str]:
    host_only = [__file__, "/var/run/docker.sock", "/run/docker.sock"]  # exist on the host, not inside
    return _probe(pool, [*host_only, "/etc/shadow"], "open(target, 'rb').read(1)")


@check("reading another episode's files")
def other_episode(pool: SandboxPool) -> tuple[bool, str]:
    first, second = pool.acquire(), pool.acquire()
    try:
        first.write_file("secret.txt", "first episode's secret")
        first.run("open('/tmp/secret', 'w').write('first episode tmp secret')")
        code = (
            "import glob\nfor p in ['/work/secret.txt', '/tmp/secret']:\n    try:\n        print('READ', open(p).read())\n"
            "    except OSError:\n        print('absent', p)\nprint(glob.glob('/work/*') + glob.glob('/tmp/*'))"
        )
        result = second.run(code)
        return "secret" not in result.stdout.replace("/secret", ""), result.stdout.strip().replace("\n", "; ")
    finally:
        pool.release(first)
        pool.release(second)


@check("escaping the workdir")
def escape_workdir(pool: SandboxPool) -> tuple[bool, str]:
    code = (
        "import os\nos.symlink('/etc', '/work/etc-link')\nfor p in ['/escape', '/etc/escape', '/usr/lib/escape', '/home/escape']:\n"
        "    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n"
        "    except OSError as e:\n        print('denied', p, e.strerror)"
    )
    sandbox = pool.acquire()
    result = sandbox.run(code, timeout=10)
    refused = []
    for path in ("../escape", "etc-link/passwd", "/etc/passwd"):
        try:
            sandbox.write_file(path, "x")
        except SandboxError:
            refused.append(path)
    pool.release(sandbox)
    held = "WROTE" not in result.stdout and result.stdout.count("denied") == 4 and len(refused) == 3
    return (
        held,
        f"{result.stdout.count('denied')}/4 writes denied by the read-only root; file API refused {len(refused)}/3",
    )


@check("killing the supervisor")
def kill_supervisor(pool: SandboxPool) -> tuple[bool, str]:
    sandbox = pool.acquire()
    started = time.monotonic()
    try:
        sandbox.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", timeout=10)
        return False, "the call returned as if nothing happened"
    except SandboxDied:
        noticed = time.monotonic() - started
    finally:
        pool.release(sandbox)
    for _ in range(50):  # the container goes away (its --rm, or our removal)
        try:
            pool.client.api.inspect_container(sandbox.id)
        except docker.errors.NotFound:
            return True, f"noticed in {noticed:.2f}s, container removed"
        time.sleep(0.1)
    return False, "the container was not removed"


@check("runs unprivileged")
def unprivileged(pool: SandboxPool) -> tuple[bool, str]:
    code = (
        "import os\nstatus = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(os.getuid(), status['CapEff'].strip(), status['NoNewPrivs'].strip())"
    )
    result, _ = _attack(pool, code, timeout=10)
    uid, caps, nnp = result.stdout.split()
    return uid != "0" and int(caps, 16) == 0 and nnp == "1", f"uid {uid}, CapEff {caps}, NoNewPrivs {nnp}"


def run_all(pool: SandboxPool) -> list[tuple[str, bool, str]]:
    """Every check in order: ``(name, held, detail)``; a check that raised did not hold."""
    rows = []
    for name, fn in CHECKS.items():
        try:
            held, detail = fn(pool)
        except Exception as e:
            held, detail = False, f"{type(e).__name__}: {e}"
        rows.append((name, held, detail))
    return rows
