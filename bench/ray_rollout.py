"""Ray's cost per episode: episodes/s of a local rollout vs the Ray executor with 1, 2 and 4 workers.

The same run each time: rftgym/MathTools-v0, the oracle policy (no endpoint: what is measured is
the loop and the executor, not a model), ``--episodes`` episodes at ``--concurrency`` in flight,
the trajectory file written by this process. The Ray runs use a local Ray started once for all
of them (one node, as many logical CPUs as workers are asked for); its start-up is reported
apart, and each run's worker start-up is inside its time (it is part of what a user waits for).

    .venv/bin/python bench/ray_rollout.py [--episodes 2000] [--concurrency 16]

On a machine with few cores, the Ray workers compete with the driver and with each other for
them: the ratio says what one episode costs through Ray here, not what a cluster of N nodes gives.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium
from rich.console import Console
from rich.table import Table

import rftgym
from rftgym.agents.validation import OraclePolicy

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
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


if __name__ == "__main__":
    main()
