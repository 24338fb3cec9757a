"""``rftgym``: one command per user job.

    rftgym envs                                   list the registered envs
    rftgym rollout ENV_ID --base-url URL --model NAME [...]   play episodes, write a trajectory file
    rftgym stats FILE... [--json]                 rewards, pass@k / pass^k, errors, components
    rftgym validate FILE...                       check trajectory files line by line

Errors a user can cause (unknown env, unreachable endpoint, bad file) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


class UserError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        console.print(f"[red]error:[/] {e}", highlight=False)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rftgym", description="Multi-turn agentic RFT: envs, rollouts, trajectory files.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list the registered environments")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("rollout", help="play episodes of an env with a policy and write a trajectory file")
    p.add_argument("env_id", help="Gymnasium id, e.g. rftgym/MathTools-v0")
    p.add_argument("--policy", default="openai", choices=["openai", "oracle", "noop"],
                   help="openai: an OpenAI-compatible endpoint; oracle/noop: validation policies that need no model")
    p.add_argument("--base-url", help="the endpoint, e.g. http://localhost:8000/v1 (vLLM, Ollama, llama.cpp, rftgym serve)")
    p.add_argument("--model", help="model name to request from the endpoint")
    p.add_argument("--api-key", default="EMPTY", help="API key sent to the endpoint (default: EMPTY)")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword argument for gymnasium.make (VALUE is parsed as JSON when it can be); repeatable")
    p.add_argument("--split", default="test", help="task split to play (default: test)")
    p.add_argument("--num-tasks", type=int, help="play the first N tasks of the split (default: all)")
    p.add_argument("--group-size", type=int, default=1, help="episodes per task (default: 1)")
    p.add_argument("--concurrency", type=int, default=8, help="episodes played at once (default: 8)")
    p.add_argument("--max-turns", type=int, help="assistant turns before an episode is truncated (env default)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: 1.0)")
    p.add_argument("--max-tokens", type=int, help="max tokens per assistant turn")
    p.add_argument("--timeout", type=float, default=120.0, help="deadline per policy request in seconds, retries included")
    p.add_argument("--turn-timeout", type=float, default=600.0,
                   help="seconds one turn (policy call plus env step) may take before the episode is cut off")
    p.add_argument("--episode-timeout", type=float, default=1800.0, help="seconds one episode may take in all")
    p.add_argument("--out", type=Path, help="trajectory file (default: runs/<env>-<time>.jsonl)")
    p.add_argument("--resume", action="store_true", help="skip the episodes already in --out")
    p.add_argument("--seed", type=int, default=0, help="base seed of the episodes' resets and sampling")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_rollout)

    p = sub.add_parser("stats", help="summarise trajectory files")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--threshold", type=float, default=1.0, help="outcome reward that counts as success (default: 1.0)")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("validate", help="check trajectory files; lists file:line for every bad line")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_validate)
    return parser


def cmd_envs(args: argparse.Namespace) -> int:
    from rich.table import Table

    from rftgym.envs import registered_envs

    table = Table("id", "description")
    for env_id, description in registered_envs().items():
        table.add_row(env_id, description)
    Console().print(table)
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from rftgym.agents import make_policy
    from rftgym.rollout import rollout
    from rftgym.trajectories import read_trajectories, stats_table, summarize

    env_id = _check_env_id(args.env_id)
    env_kwargs = dict(_parse_env_arg(a) for a in args.env_arg)
    if args.max_turns is not None:
        env_kwargs["max_turns"] = args.max_turns
    if args.resume and args.out is None:
        raise UserError("--resume needs --out FILE (the file to continue)")
    out = args.out or Path("runs") / f"{env_id.split('/')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    try:
        policy = make_policy(args.policy, base_url=args.base_url, model=args.model, api_key=args.api_key,
                             temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
                             timeout=args.timeout)
    except ValueError as e:
        raise UserError(str(e)) from None
    if hasattr(policy, "check"):
        try:
            asyncio.run(policy.check())
        except Exception as e:
            raise UserError(str(e)) from None
    try:
        result = rollout(env_id, policy, out, env_kwargs=env_kwargs, split=args.split, num_tasks=args.num_tasks,
                         group_size=args.group_size, concurrency=args.concurrency, seed=args.seed,
                         resume=args.resume, progress=not args.no_progress,
                         turn_timeout=args.turn_timeout, episode_timeout=args.episode_timeout)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"cannot run {env_id}: {e}") from None
    if result.written + result.skipped:
        Console().print(stats_table(summarize(read_trajectories(out))))
    note = " (interrupted: run again with --resume to finish)" if result.interrupted else ""
    console.print(f"{result.written} episodes written, {result.skipped} already there, "
                  f"{result.errors} with errors -> {out}{note}", highlight=False)
    return 130 if result.interrupted else 0


def cmd_stats(args: argparse.Namespace) -> int:
    from rftgym.trajectories import stats_table, summarize

    summary = summarize(_read_all(args.files), success_threshold=args.threshold)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        Console().print(stats_table(summary))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from rftgym.trajectories import validate_file

    bad = 0
    for path in args.files:
        _check_file(path)
        good, problems = validate_file(path)
        for problem in problems:
            print(problem)
        bad += len(problems)
        console.print(f"{path}: {good} episodes ok, {len(problems)} problems", highlight=False)
    return 1 if bad else 0


def _read_all(paths: list[Path]) -> list:
    from rftgym.trajectories import TrajectoryFileError, read_trajectories

    trajectories = []
    for path in paths:
        _check_file(path)
        try:
            trajectories += list(read_trajectories(path))
        except TrajectoryFileError as e:
            raise UserError(f"{e} (run `rftgym validate {path}` to list every bad line)") from None
    return trajectories


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"no such file: {path}")


def _check_env_id(env_id: str) -> str:
    import gymnasium

    import rftgym.envs  # noqa: F401  (registers the built-in envs)

    if ":" in env_id:  # "package.module:namespace/Name-v0" registers a user's env by importing it
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UserError(f"cannot import {module!r} to register {env_id!r}: {e}") from None
    if env_id not in gymnasium.registry:
        from rftgym.envs import registered_envs

        known = ", ".join(registered_envs()) or "none"
        raise UserError(f"unknown env {env_id!r}; registered: {known}")
    return env_id


def _parse_env_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"--env-arg takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


if __name__ == "__main__":
    sys.exit(main())
