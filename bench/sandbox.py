"""Sandbox speed, side by side with plain Docker in one run.

* warm execution round trip: ``sandbox.run(SNIPPET)`` on a started sandbox (one JSON line each way
  over the container's attached stdin/stdout) vs ``docker exec CONTAINER python3 -c SNIPPET`` on
  an equally hardened running container;
* episode acquire: ``pool.acquire()`` from a warm pool (and acquire plus the first execution) vs
  ``docker run --rm`` of the snippet with the same hardening;
* executions per second with 1, 4 and 16 episodes running code at once, each in its own sandbox,
  vs ``docker exec`` at the same concurrency.

    .venv/bin/python bench/sandbox.py [--runs 300] [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from rftgym.sandbox import DEFAULT_IMAGE, SandboxPool
from rftgym.sandbox.reaper import labels, owner_token

SNIPPET = "x = sum(range(100))"
# `docker run` / `docker exec` with the hardening the pool gives its containers.
HARDENING = [
    "--network",
    "none",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--read-only",
    "--init",
    "--pids-limit",
    "128",
    "--memory",
    "512m",
    "--memory-swap",
    "512m",
    "--cpus",
    "1",
    "--tmpfs",
    "/work:size=64m,uid=1000,gid=1000",
    "--user",
    "1000:1000",
    "--workdir",
    "/work",
]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def docker_cli(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def throughput(workers: list[Callable[[], object]], seconds: float) -> float:
    """Calls per second of all workers together, each calling its function in a loop."""
    stop = time.monotonic() + seconds
    counts = [0] * len(workers)

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            workers[i]()
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def warm_pool_acquire(pool: SandboxPool, runs: int, then_run: bool) -> list[float]:
    """Acquire times from a pool that had time to refill before each acquire."""
    times = []
    for _ in range(runs):
        while len(pool._ready) < pool.size:  # let it refill: this measures a warm pool
            time.sleep(0.05)
        time.sleep(0.2)  # and let the engine finish removing the last one
        start = time.perf_counter()
        sandbox = pool.acquire()
        if then_run:
            sandbox.run(SNIPPET)
        times.append((time.perf_counter() - start) * 1000)
        pool.release(sandbox)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="round trips timed for our sandbox")
    parser.add_argument("--docker-runs", type=int, default=40, help="round trips timed for docker exec/run")
    parser.add_argument("--acquires", type=int, default=40, help="acquires timed")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of each throughput measurement")
    args = parser.parse_args()

    console = Console()
    label_args = [f"--label={k}={v}" for k, v in labels(owner_token(), 600).items()]
    plain = docker_cli("run", "-d", "--rm", *HARDENING, *label_args, DEFAULT_IMAGE, "sleep", "600")
    try:
        with SandboxPool(size=2) as pool:
            sandbox = pool.acquire()
            sandbox.run(SNIPPET)  # the repl is started
            ours = timed(lambda: sandbox.run(SNIPPET), args.runs)
            theirs = timed(lambda: docker_cli("exec", plain, "python3", "-c", SNIPPET), args.docker_runs)
            pool.release(sandbox)

            acquire = warm_pool_acquire(pool, args.acquires, then_run=False)
            acquire_run = warm_pool_acquire(pool, args.acquires // 2, then_run=True)
            run = timed(
                lambda: docker_cli("run", "--rm", *HARDENING, *label_args, DEFAULT_IMAGE, "python3", "-c", SNIPPET),
                args.docker_runs // 2,
            )

        rows = []
        for n in (1, 4, 16):
            with SandboxPool(size=n) as pool:
                boxes = [pool.acquire() for _ in range(n)]
                ours_rate = throughput([lambda b=b: b.run(SNIPPET) for b in boxes], args.seconds)
            exec_rate = throughput([lambda: docker_cli("exec", plain, "python3", "-c", SNIPPET)] * n, args.seconds)
            rows.append((n, ours_rate, exec_rate))
    finally:
        subprocess.run(["docker", "rm", "-f", plain], capture_output=True)

    table = Table("measure", "rftgym sandbox", "plain docker", "ratio", title=f"sandbox bench (snippet: {SNIPPET})")
    table.add_row(
        "warm execution round trip p50 / p95 (ms)",
        f"{p(ours, 50):.2f} / {p(ours, 95):.2f}",
        f"docker exec {p(theirs, 50):.1f} / {p(theirs, 95):.1f}",
        f"{p(theirs, 50) / p(ours, 50):.0f}x faster",
    )
    table.add_row(
        "episode acquire p50 / p95 (ms)",
        f"{p(acquire, 50):.2f} / {p(acquire, 95):.2f}",
        f"docker run {p(run, 50):.0f} / {p(run, 95):.0f}",
        f"{p(run, 50) / p(acquire, 50):.0f}x faster",
    )
    table.add_row(
        "acquire + first execution p50 (ms)",
        f"{p(acquire_run, 50):.2f}",
        f"docker run {p(run, 50):.0f}",
        f"{p(run, 50) / p(acquire_run, 50):.0f}x faster",
    )
    for n, ours_rate, exec_rate in rows:
        table.add_row(
            f"executions/s, {n} concurrent episode{'s' if n > 1 else ''}",
            f"{ours_rate:,.0f}",
            f"docker exec {exec_rate:,.1f}",
            f"{ours_rate / exec_rate:.0f}x",
        )
    console.print(table)
    bars = p(ours, 50) <= 2.0 and p(acquire, 50) <= 10.0
    console.print(f"bars (round trip p50 <= 2 ms, acquire p50 <= 10 ms): {'met' if bars else 'NOT met'}")


if __name__ == "__main__":
    main()
