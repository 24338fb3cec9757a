"""Rollout-loop overhead: turns/s of the full loop vs a bare loop over the same env and actions.

The bare loop is ``env.reset`` + ``env.step`` over a fixed script of assistant messages, in one
thread, nothing else. The full loop is ``rftgym.rollout``: for every turn a real HTTP request
through ``ChatPolicy`` (openai client) to an instant endpoint (the scripted server in its own
process, answering the same script), the env step in a worker thread, and the trajectory line
written and flushed. Overhead per turn = 1/full - 1/bare, at 1, 16 and 64 concurrent episodes.

    .venv/bin/python bench/rollout_overhead.py [--episodes 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import gymnasium
from rich.console import Console
from rich.table import Table

import rftgym
from rftgym.agents.testing import ScriptedServer

ENV_ID = "rftgym/MathTools-v0"


def _call(name: str, arguments: str, turn: int) -> dict:
    call = {"id": f"call_{turn}", "type": "function", "function": {"name": name, "arguments": arguments}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


# The same three turns in every episode: two calculator calls, then a submission.
SCRIPT = [
    _call("calculator", '{"expression": "12 * 7"}', 0),
    _call("calculator", '{"expression": "84 - 5"}', 1),
    _call("submit_answer", '{"answer": "79"}', 2),
]


def scripted(request: dict) -> dict:
    """The endpoint's responder: the next message of SCRIPT, by the number of assistant turns so far."""
    turn = sum(m["role"] == "assistant" for m in request["messages"])
    return SCRIPT[min(turn, len(SCRIPT) - 1)]


def bare_loop(tasks: list) -> float:
    """Turns per second of reset + step over the script, no policy, no file."""
    env = gymnasium.make(ENV_ID)
    start = time.perf_counter()
    turns = 0
    for i, task in enumerate(tasks):
        env.reset(seed=i, options={"task": task})
        for action in SCRIPT:
            env.step(action)
            turns += 1
    return turns / (time.perf_counter() - start)


def full_loop(base_url: str, num_tasks: int, concurrency: int, out: Path) -> float:
    """Turns per second of ``rftgym.rollout`` with the HTTP policy and the trajectory writer."""
    policy = rftgym.ChatPolicy(base_url, "bench", timeout=60)
    start = time.perf_counter()
    result = rftgym.rollout(
        ENV_ID, policy, out, split="train", num_tasks=num_tasks, concurrency=concurrency, progress=False
    )
    elapsed = time.perf_counter() - start
    assert result.written == num_tasks and result.errors == 0, result
    return num_tasks * len(SCRIPT) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400, help="episodes per measurement")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    tasks = gymnasium.make(ENV_ID).unwrapped.tasks("train", args.episodes)
    bare_loop(tasks[:50])  # warm-up
    table = Table(
        "concurrency",
        "bare turns/s",
        "full turns/s",
        "overhead ms/turn",
        "full / bare",
        title=f"rollout overhead, {args.episodes} episodes x {len(SCRIPT)} turns, {os.cpu_count()} CPUs",
    )
    with ScriptedServer.spawn("rollout_overhead:scripted") as server, tempfile.TemporaryDirectory() as tmp:
        full_loop(server.base_url, 50, 16, Path(tmp) / "warmup.jsonl")
        for concurrency in (1, 16, 64):
            bare = bare_loop(tasks)
            full = full_loop(server.base_url, args.episodes, concurrency, Path(tmp) / f"c{concurrency}.jsonl")
            overhead_ms = 1000 * (1 / full - 1 / bare)
            table.add_row(str(concurrency), f"{bare:,.0f}", f"{full:,.0f}", f"{overhead_ms:.3f}", f"{full / bare:.3f}")
    Console().print(table)
    sys.exit(0)


if __name__ == "__main__":
    main()
