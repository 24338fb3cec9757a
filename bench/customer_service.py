"""Customer-service envs: environment cost per episode, memory per concurrent episode, rollout overhead.

1. Env cost: every test task's reference dialogue (oracle actions recorded beforehand) replayed
   with the scripted customer: ``reset`` + every ``step`` (tools, customer turns, per-turn and
   outcome rewards), median and p90 per episode, wall-clock and CPU time. Side by side, what a tau-bench-style design adds
   to each episode: a deep copy of the whole database at reset, and at the end the reference
   actions replayed on another fresh copy and both whole databases hashed; "ratio" is the env cost
   with that work added over the env cost without it.
2. Memory: tracemalloc's growth with 256 envs each in the middle of an episode, per episode
   (the env object and its episode state; the shared base databases are built beforehand).
3. Retail rollout overhead per turn: ``rftgym.rollout`` over HTTP (``ChatPolicy`` to an instant
   scripted endpoint in its own process, 64 concurrent episodes) vs the bare env loop over the
   same actions, as in ``bench/rollout_overhead.py``.

    .venv/bin/python bench/customer_service.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import gymnasium
from rich.console import Console
from rich.table import Table

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.envs.customer_service.db import Database
from rftgym.types import Message, Task, tool_call

DOMAINS = ("rftgym/Retail-v0", "rftgym/Airline-v0")
RETAIL = DOMAINS[0]


@functools.cache
def retail_oracle() -> tuple[Any, dict[str, Task]]:
    """A retail env (for its oracle) and its test tasks by prompt, made once per process."""
    env = gymnasium.make(RETAIL).unwrapped
    return env, {t.prompt: t for t in env.tasks("test")}


def oracle_responder(request: dict) -> Message:
    """The scripted endpoint's answer: the oracle's next message for the request's retail task."""
    env, by_prompt = retail_oracle()
    messages = request["messages"]
    return env.oracle_action(by_prompt[next(m["content"] for m in messages if m["role"] == "user")], messages)


def episodes(env_id: str) -> tuple[gymnasium.Env, list[tuple]]:
    """The env and, per test task, ``(task, the oracle's actions)`` (recorded once, outside any timing)."""
    env = gymnasium.make(env_id).unwrapped
    recorded = []
    for task in env.tasks("test"):
        env.reset(options={"task": task})
        actions, done = [], False
        while not done:
            actions.append(env.oracle_action(task, env.messages))
            *_, terminated, truncated, _ = env.step(actions[-1])
            done = terminated or truncated
        recorded.append((task, actions))
    return env, recorded


def env_cost(env: gymnasium.Env, recorded: list[tuple], repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds per episode of reset + steps, every task ``repeats`` times (CPU
    time is what the env costs even when other processes compete for the cores)."""
    wall, cpu = [], []
    for _ in range(repeats):
        for task, actions in recorded:
            start, start_cpu = time.perf_counter(), time.process_time()
            env.reset(options={"task": task})
            for action in actions:
                env.step(action)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def tau_style_extra(env: gymnasium.Env, recorded: list[tuple]) -> list[float]:
    """Seconds per episode a whole-database design adds: copy at reset, replay on a fresh copy and hash both."""
    times = []
    for task, _ in recorded:
        base = env.suite.base(task.metadata["db_seed"])
        start = time.perf_counter()
        episode_db = copy.deepcopy(base)
        reference_db = copy.deepcopy(base)
        env.db = Database(reference_db)  # the tools work on a plain whole copy through an empty overlay
        env.confirmed = True
        for i, action in enumerate(task.solution):
            env.toolbox.call(tool_call(action["name"], action["arguments"], str(i)))
        for db in (episode_db, reference_db):
            hashlib.sha256(json.dumps(db, sort_keys=True).encode()).hexdigest()
        times.append(time.perf_counter() - start)
    return times


def memory_per_episode(env_id: str, recorded: list[tuple], count: int = 256) -> float:
    """Bytes tracemalloc sees per env held in the middle of an episode, ``count`` at once."""
    gymnasium.make(env_id).unwrapped.reset(options={"task": recorded[0][0]})  # warm caches and imports
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = []
    for i in range(count):
        task, actions = recorded[i % len(recorded)]
        env = gymnasium.make(env_id).unwrapped
        env.reset(options={"task": task})
        for action in actions[: len(actions) // 2 + 1]:
            env.step(action)
        held.append(env)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return grown / count


def overhead(recorded: list[tuple], env: gymnasium.Env, base_url: str, out: Path) -> tuple[float, float]:
    """(bare turns/s, full-loop turns/s) over the retail test split."""
    turns = sum(len(a) for _, a in recorded)
    bare = turns * 3 / sum(env_cost(env, recorded, 3)[0])
    policy = rftgym.ChatPolicy(base_url, "bench", timeout=60, request_token_data=False)
    start = time.perf_counter()
    result = rftgym.rollout(
        RETAIL, policy, out, task_ids=[t.id for t, _ in recorded], group_size=3, concurrency=64, progress=False
    )
    elapsed = time.perf_counter() - start
    assert result.errors == 0 and result.mean_reward == 1.0, result
    return bare, turns * 3 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="passes over the test split per measurement")
    args = parser.parse_args()
    cost = Table(
        "env",
        "episodes",
        "turns/ep",
        "wall median ms",
        "wall p90",
        "CPU median ms",
        "CPU p90",
        "tau-style DB work ms",
        "ratio",
        "KB/episode",
        title=f"customer-service env cost, {os.cpu_count()} CPUs",
    )
    for env_id in DOMAINS:
        env, recorded = episodes(env_id)
        env_cost(env, recorded, 1)  # warm-up
        wall, cpu = (sorted(t) for t in env_cost(env, recorded, args.repeats))
        extra = statistics.median(tau_style_extra(env, recorded))
        memory = memory_per_episode(env_id, recorded)
        cost.add_row(
            env_id.split("/")[1],
            str(len(wall)),
            f"{statistics.mean(len(a) for _, a in recorded):.1f}",
            *(f"{1000 * x:.3f}" for t in (wall, cpu) for x in (statistics.median(t), t[int(0.9 * len(t))])),
            f"{1000 * extra:.1f}",
            f"{(statistics.median(wall) + extra) / statistics.median(wall):.0f}x",
            f"{memory / 1024:.0f}",
        )
    Console(width=150).print(cost)

    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env, recorded = episodes(RETAIL)
    with ScriptedServer.spawn("customer_service:oracle_responder") as server, tempfile.TemporaryDirectory() as tmp:
        overhead(recorded[:20], env, server.base_url, Path(tmp) / "warmup.jsonl")
        bare, full = overhead(recorded, env, server.base_url, Path(tmp) / "run.jsonl")
    loop = Table(
        "bare turns/s",
        "full turns/s",
        "overhead ms/turn",
        "full / bare",
        title="Retail-v0 rollout overhead, 64 concurrent episodes, instant endpoint in its own process",
    )
    loop.add_row(f"{bare:,.0f}", f"{full:,.0f}", f"{1000 * (1 / full - 1 / bare):.3f}", f"{full / bare:.3f}")
    Console(width=150).print(loop)
    sys.exit(0)


if __name__ == "__main__":
    main()
