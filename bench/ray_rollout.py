"""Ray's cost per episode: episodes/s of a local rollout vs the Ray executor with 1, 2 and 4 workers.

The same run each time: rftgym/MathTools-v0, the oracle policy (no endpoint: what is measured is
the loop and the executor, not a model), ``--episodes`` episodes at ``--concurrency`` in flight,
the trajectory file written by this process. The Ray runs use a local Ray started once for all
of them (one node, as many logical CPUs as workers are asked for); its start-up is reported
apart, and each run's worker start-up is inside its time (it is part of what a user waits for).

    .venv/bin/python bench/ray_rollout.py [--episodes 2000] [--concurrency 16] [--in-flight 10000]

On a machine with few cores, the Ray workers compete with the driver and with each other for
them: the ratio says what one episode costs through Ray here, not what a cluster of N nodes gives.

Then the driver alone, where a cluster's rollouts saturate: ``--in-flight`` (10,000) episodes of
a no-op env (rftgym/Letters-v0, one turn, no tool; the noop policy) all in flight at once on 2
Ray workers, and the same lines written by the driver's writer alone. What it prints: lines/s the
writer can write (its ceiling), episodes/s through Ray (the scheduling rate: each episode is one
actor call handed out, awaited and written by the driver), and the driver process's CPU seconds
per episode (all its threads, Ray's own included): ``1 / that`` is the most episodes/s one driver
core can take, whatever the cluster behind it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import gymnasium
from rich.console import Console
from rich.table import Table

import rftgym
from rftgym.agents.validation import NoopPolicy, OraclePolicy
from rftgym.trajectories import TrajectoryWriter, read_trajectories

ENV_ID = "rftgym/MathTools-v0"


def timed(out: Path, episodes: int, concurrency: int, executor=None) -> float:
    """Episodes per second of one rollout of ``episodes`` episodes."""
    policy = OraclePolicy(gymnasium.make(ENV_ID).unwrapped.oracle_action)
    group = max(1, episodes // 300 + (episodes % 300 > 0))
    start = time.perf_counter()
    result = rftgym.rollout(
        ENV_ID, policy, out, num_tasks=episodes // group, group_size=group, concurrency=concurrency,
        progress=False, force=True, executor=executor,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert result.errors == 0 and result.written == episodes // group * group, result
    return result.written / seconds


def driver(out: Path, episodes: int, executor) -> tuple[float, float]:
    """Episodes/s and the driver's CPU seconds per episode, every episode of a no-op env in flight at once."""
    cpu, start = time.process_time(), time.perf_counter()
    result = rftgym.rollout(
        "rftgym/Letters-v0", NoopPolicy(), out, split="train", num_tasks=episodes, concurrency=episodes, progress=False,
        force=True, executor=executor,
    )  # fmt: skip
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.errors == 0 and result.written == episodes, result
    return episodes / seconds, cpu / episodes


def written(source: Path, out: Path) -> float:
    """Lines/s of the driver's writer alone (validate, serialise, append, flush per line)."""
    trajectories = list(read_trajectories(source))
    start = time.perf_counter()
    with TrajectoryWriter(out) as writer:
        for traj in trajectories:
            writer.write(traj)
    return len(trajectories) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--in-flight", type=int, default=10_000, help="the driver test's episodes, all in flight")
    args = parser.parse_args()

    import ray

    from rftgym.executors import RayExecutor

    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        timed(out, 20, args.concurrency)  # warm: imports, task lists
        rows.append(("local (this process)", timed(out, args.episodes, args.concurrency)))
        start = time.perf_counter()
        ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="WARNING")
        started = time.perf_counter() - start
        try:
            for workers in (1, 2, 4):
                rate = timed(out, args.episodes, args.concurrency, RayExecutor(workers=workers))
                rows.append((f"Ray, {workers} worker{'s' * (workers > 1)}", rate))
            scheduled, cpu_per_episode = driver(out, args.in_flight, RayExecutor(workers=2))
            lines = written(out, Path(tmp) / "write.jsonl")
        finally:
            ray.shutdown()

    local = rows[0][1]
    table = Table(title=f"{args.episodes} episodes of {ENV_ID}, oracle policy, {args.concurrency} in flight")
    for name in ("executor", "episodes/s", "vs local"):
        table.add_column(name, justify="right" if name != "executor" else "left")
    for name, rate in rows:
        table.add_row(name, f"{rate:,.0f}", f"{rate / local:.2f}x")
    console = Console()
    console.print(table)
    console.print(f"local Ray start-up (once, not in the figures): {started:.1f} s")
    table = Table(title=f"the driver alone: {args.in_flight:,} episodes of a no-op env in flight, 2 Ray workers")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("lines/s written (the driver's writer alone)", f"{lines:,.0f}")
    table.add_row("episodes/s through Ray (scheduling rate)", f"{scheduled:,.0f}")
    table.add_row("driver CPU per episode", f"{cpu_per_episode * 1e3:.2f} ms")
    table.add_row("one driver core's ceiling (1 / CPU per episode)", f"{1 / cpu_per_episode:,.0f} episodes/s")
    console.print(table)
    console.print(f"this machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
