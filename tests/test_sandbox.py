"""The Docker sandbox against the real engine: warm pool, supervisor, limits, hostile code, no leaks."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

import rftgym.sandbox
from rftgym.sandbox import (
    DEFAULT_IMAGE,
    DockerUnavailable,
    Limits,
    SandboxDied,
    SandboxError,
    SandboxPool,
    connect,
    reap,
    shared_pool,
)
from rftgym.sandbox.image import Mirror, apt_mirror
from rftgym.sandbox.reaper import LABEL, OWNER, containers, labels
from rftgym.sandbox.selftest import CHECKS


@pytest.fixture(scope="module")
def pool() -> SandboxPool:
    return shared_pool()


@pytest.fixture
def sandbox(pool):
    box = pool.acquire()
    yield box
    pool.release(box)


def ours(owner: str | None = None) -> list[str]:
    """Ids of the containers with our label (of one owner, if given), running or not."""
    return [c["Id"] for c in containers(connect(), f"{OWNER}={owner}" if owner else LABEL)]


def wait_until(condition, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_repl_keeps_variables_and_echoes_the_last_expression(sandbox):
    assert sandbox.run("x = 20\ndef twice(v):\n    return 2 * v").stdout == ""
    result = sandbox.run("print('out'); import sys; print('err', file=sys.stderr)\ntwice(x) + 2")
    assert (result.stdout, result.stderr, result.ok) == ("out\n42\n", "err\n", True)


def test_exceptions_come_back_with_the_cell_lines_and_the_session_goes_on(sandbox):
    result = sandbox.run("y = 1\n1 / 0")
    assert not result.ok and result.exception.startswith("Traceback")
    assert "ZeroDivisionError: division by zero" in result.exception and "line 2" in result.exception
    assert "worker" not in result.exception  # the supervisor's own frames are not shown
    assert sandbox.run("raise SystemExit(3)").exception.strip().endswith("SystemExit: 3")
    assert sandbox.run("y").stdout == "1\n"


def test_script_mode_is_a_fresh_process_with_an_exit_code(sandbox):
    sandbox.run("z = 5")
    result = sandbox.run("import sys\nprint('z' in globals())\nsys.exit(4)", mode="script")
    assert (result.stdout, result.exit_code) == ("False\n", 4)
    assert sandbox.run("z").stdout == "5\n"  # the repl was left alone


def test_files_round_trip_in_the_workdir(sandbox):
    sandbox.write_file("data/in.bin", bytes(range(256)))
    assert sandbox.read_file("data/in.bin") == bytes(range(256))
    sandbox.run("open('/work/out.txt', 'w').write('from code')")
    assert sandbox.read_file("out.txt") == b"from code"
    with pytest.raises(SandboxError, match="outside /work"):
        sandbox.read_file("../etc/passwd")
    with pytest.raises(SandboxError, match="FileNotFoundError"):
        sandbox.read_file("missing.txt")


def test_every_sandbox_is_fresh_and_destroyed_after_use(pool):
    first = pool.acquire()
    first.run("secret = 1")
    first.write_file("mark.txt", "used")
    pool.release(first)
    second = pool.acquire()
    try:
        assert second.id != first.id
        assert second.run("'secret' in globals(), __import__('os').listdir('/work')").stdout == "(False, [])\n"
        assert wait_until(lambda: first.id not in ours())
    finally:
        pool.release(second)


def test_containers_carry_the_security_defaults(pool, sandbox):
    attrs = pool.client.api.inspect_container(sandbox.id)
    host, config = attrs["HostConfig"], attrs["Config"]
    assert host["NetworkMode"] == "none" and host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"]
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["Init"] and host["AutoRemove"]
    assert host["PidsLimit"] == Limits().pids and host["Memory"] == 512 << 20 == host["MemorySwap"]
    assert set(host["Tmpfs"]) == {"/work", "/tmp"} and config["User"] == "1000:1000"
    assert config["Labels"][LABEL] == "1" and config["Labels"][OWNER] == pool.owner


@pytest.mark.parametrize("attack", list(CHECKS))
def test_hostile_code_is_contained(pool, attack):
    held, detail = CHECKS[attack](pool)
    assert held, detail


def test_host_watchdog_destroys_a_frozen_sandbox(pool, sandbox):
    pool.client.api.pause(sandbox.id)  # the supervisor can no longer answer, nor time anything out
    with pytest.raises(SandboxDied, match="did not answer"):
        sandbox.run("1", timeout=0.5)
    assert wait_until(lambda: sandbox.id not in ours())
    with pytest.raises(SandboxDied, match="already destroyed"):
        sandbox.run("1")


def test_a_container_ends_itself_after_its_time_to_live():
    with SandboxPool(size=1, limits=Limits(ttl=2)) as short:
        box = short.acquire()
        assert box.run("1 + 1").stdout == "2\n"
        assert wait_until(lambda: box.id not in ours(), timeout=20)
        with pytest.raises(SandboxDied):
            box.run("1")


OWNER_SCRIPT = """
from rftgym.sandbox import SandboxPool
pool = SandboxPool(size=3)
box = pool.acquire()
box.run("x = 1")
print(pool.owner, flush=True)
import time; time.sleep(600)
"""


def test_kill_9_of_the_owner_leaves_no_container():
    proc = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT], stdout=subprocess.PIPE, text=True)
    owner = proc.stdout.readline().strip()
    assert owner and wait_until(lambda: len(ours(owner)) >= 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_until(lambda: not ours(owner))


def test_gc_removes_containers_of_dead_owners_only(pool, sandbox):
    client = connect()
    dead = client.containers.create(DEFAULT_IMAGE, ["true"], labels=labels("nohost-or-gone:1:1", 60))
    gone = client.containers.create(DEFAULT_IMAGE, ["true"], labels=labels(f"{os.uname().nodename}:999999999:1", 60))
    try:
        assert reap(client) >= 1  # (another suite running beside this one may leave dead owners too)
        live = set(ours())
        assert gone.id not in live and dead.id in live and sandbox.id in live
        again = client.containers.create(
            DEFAULT_IMAGE, ["true"], labels=labels(f"{os.uname().nodename}:999999999:1", 60)
        )
        done = subprocess.run(
            [sys.executable, "-m", "rftgym", "sandbox", "gc"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and "sandbox container(s)" in done.stderr
        assert again.id not in ours() and sandbox.id in ours()
    finally:
        for container in (dead, gone):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_no_engine_is_a_clear_error_that_does_not_hang(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerUnavailable, match="cannot reach the Docker engine.*dockerd"):
        SandboxPool()
    done = subprocess.run(
        [sys.executable, "-m", "rftgym", "sandbox", "selftest"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert done.returncode == 2 and "cannot reach the Docker engine" in done.stderr


def test_a_missing_image_says_how_to_build_it():
    with pytest.raises(SandboxError, match="rftgym sandbox build-image --tag rftgym/nope:0"):
        SandboxPool("rftgym/nope:0")


def test_the_mirror_comes_from_the_apt_sources(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert apt_mirror([deb822]) == Mirror("http://mirror.example/debian", "bookworm")
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://other.example/debian trixie main\n")
    assert apt_mirror([one_line]) == Mirror("http://other.example/debian", "trixie")
    with pytest.raises(Exception, match="--mirror"):
        apt_mirror([tmp_path / "missing.list"])


def test_the_sandbox_is_a_service_that_imports_no_other_part_of_rftgym():
    allowed = ("rftgym.sandbox", "rftgym._background", "rftgym._compat", "rftgym.types")
    for path in Path(rftgym.sandbox.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith("rftgym") or name.startswith(allowed), f"{path.name} imports {name}"
