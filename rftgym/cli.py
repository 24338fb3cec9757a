"""``rftgym``: one command per user job.

    rftgym envs                                   list the registered envs
    rftgym envs lint [ENV_ID...]                  any env: unique ids, check_env, oracle 1.0, noop 0 (+ its task linter)
    rftgym rollout ENV_ID --base-url URL --model NAME [...]   play episodes, write a trajectory file
    rftgym stats FILE... [--json]                 rewards, pass@k / pass^k, errors, components
    rftgym baseline ENV_ID --base-url URL --model NAME [-k 8] [--num-tasks N]   Step 0 readiness verdict
    rftgym validate FILE...                       check trajectory files line by line
    rftgym report FILE...|RUN_DIR [--compare FILE...] --out report.html   one self-contained HTML report
    rftgym rescore FILE --rubric module:attr --out NEW   recompute every reward without the model
    rftgym export [FILE...] --format bedrock-rft|openai-sft --out OUT   fine-tuning datasets
    rftgym serve --model PATH_OR_ID|tiny [--port N] [--watch DIR]   OpenAI-compatible endpoint on transformers
    rftgym train FILE... --model PATH_OR_ID|tiny [--output-dir DIR]   GRPO on trajectory files
    rftgym sandbox build-image|gc|selftest        the Docker code sandbox: image, leaked containers, hostile suite
    rftgym bridge sagemaker ENV_ID [--port N]      SageMaker AI agent RFT: the env as the job's agent server
    rftgym mcp serve ENV_ID [--http --port N]      an env's tools as an MCP server (stdio, or Streamable HTTP)

Errors a user can cause (unknown env, unreachable endpoint or a model it does not serve, bad file,
a folder or an unwritable place given for a file, a number out of range, an --out that would be
written by surprise) print one line and exit 2, writing nothing. A rollout in which every episode
failed, or that stopped because the endpoint rejected its requests again and again, exits 1.
A reader that leaves early (``rftgym stats --json f | head``) ends the command quietly.

A user's own env: ``--import MODULE`` (repeatable) imports the module that registers it, or name it
``MODULE:ENV_ID`` (``rftgym rollout examples.custom_env:units/UnitDesk-v0``). Trajectory files
record the module, so ``rescore``, ``export`` and ``rollout --resume`` import it again by themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


class UserError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2."""


# Range of each numeric flag (argparse dest -> lowest, highest; None: no bound). A flag that
# several commands share has one range. Checked in main, before any command runs.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "num_train": (0, None),
    "num_tasks": (1, None),
    "group_size": (1, None),
    "concurrency": (1, None),
    "max_turns": (1, None),
    "max_tokens": (1, None),
    "temperature": (0, None),
    "limit": (1, None),
    "port": (0, 65535),
    "max_batch_size": (1, None),
    "default_max_tokens": (1, None),
    "steps": (1, None),
    "tasks_per_step": (1, None),
    "val_every": (0, None),
    "val_tasks": (1, None),
    "gamma": (0, 1),
    "batch_size": (1, None),
    "micro_batch_size": (1, None),
    "epochs": (1, None),
    "kl_coef": (0, None),
    "max_length": (1, None),
    "save_every": (0, None),
    "lora_rank": (0, None),
    "micro_batch_tokens": (1, None),
    "ray_workers": (1, None),
    "vllm_replicas": (1, None),
    "max_staleness": (0, None),
    "importance_cap": (0, None),
    "readiness_tasks": (1, None),
}
_POSITIVE = ("timeout", "turn_timeout", "episode_timeout", "lr", "sync_tolerance")  # more than 0


def _check_ranges(args: argparse.Namespace) -> None:
    """One line naming the first numeric flag out of range (the rollout API says the same)."""
    import math

    for dest, value in vars(args).items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        flag = "--" + dest.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{flag} must be a finite number, got {value}")
        if dest in _POSITIVE and not value > 0:
            unit = " seconds" if "timeout" in dest else ""
            raise UserError(f"{flag} must be more than 0{unit}, got {value}")
        low, high = _RANGES.get(dest, (None, None))
        if low is not None and high is not None and not low <= value <= high:
            raise UserError(f"{flag} must be between {low} and {high}, got {value}")
        if low is not None and value < low:
            raise UserError(f"{flag} must be at least {low}, got {value}")


def main(argv: list[str] | None = None) -> int:
    import os

    args = _parser().parse_args(argv)
    if os.getcwd() not in sys.path:  # --import, MODULE:ENV_ID, --rubric: a module of the current folder
        sys.path.append(os.getcwd())  # is found, as with `python -m` (appended: it shadows nothing)
    try:
        _check_ranges(args)
        args.new_envs = _import_modules(getattr(args, "imports", None) or [])
        with _judge_environ(args):
            code: int = args.func(args)
        sys.stdout.flush()  # now, so that a reader that left early is answered below, not at exit
        return code
    except UserError as e:
        from rich.markup import escape  # a message may hold brackets: pip install 'rftgym[ray]'

        console.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
        return 2
    except BrokenPipeError:  # `rftgym stats --json f | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere
        return 1  # as rich does when a table meets a closed pipe (Python's own recipe too)
    except OSError as e:  # a file that could not be read or written half-way (a full disk...)
        where = f"{e.filename}: " if e.filename else ""
        console.print(f"[red]error:[/] {where}{e.strerror or e}", highlight=False)
        return 1


def _import_modules(modules: list[str]) -> list[str]:
    """Import ``--import`` modules; the ids of the envs they registered."""
    if not modules:
        return []
    import gymnasium

    from rftgym.envs.registry import import_env_modules

    before = set(gymnasium.registry)
    try:
        import_env_modules(modules)
    except ValueError as e:
        raise UserError(str(e)) from None
    return sorted(set(gymnasium.registry) - before)


def _add_judge(parser: argparse.ArgumentParser) -> None:
    """``--judge-base-url`` / ``--judge-model``: the LLM judge of envs and rubrics that use one."""
    parser.add_argument(
        "--judge-base-url",
        help="OpenAI-compatible endpoint of the LLM judge of envs and rubrics that use one (Moderation-v0, "
        "rubrics built with LLMJudge.from_env); sets RFTGYM_JUDGE_BASE_URL while the command runs",
    )
    parser.add_argument("--judge-model", help="the judge model (sets RFTGYM_JUDGE_MODEL)")


@contextlib.contextmanager
def _judge_environ(args: argparse.Namespace) -> Iterator[None]:
    """``--judge-base-url`` / ``--judge-model`` as ``RFTGYM_JUDGE_BASE_URL`` / ``RFTGYM_JUDGE_MODEL``
    (the one way a judge is configured) while the command runs; restored afterwards."""
    import os

    given = {
        var: value
        for var, value in (
            ("RFTGYM_JUDGE_BASE_URL", getattr(args, "judge_base_url", None)),
            ("RFTGYM_JUDGE_MODEL", getattr(args, "judge_model", None)),
        )
        if value
    }
    before = {var: os.environ.get(var) for var in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for var, value in before.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _add_import(parser: argparse.ArgumentParser, *, keep_parent: bool = False) -> None:
    """``--import MODULE``; ``keep_parent`` for a subcommand, whose default would otherwise
    replace what its parent command's ``--import`` parsed."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=argparse.SUPPRESS if keep_parent else [],
        metavar="MODULE",
        help="import MODULE first: the module that registers your env (repeatable); or name the env "
        "MODULE:ENV_ID. Trajectory files record it: rescore, export and --resume import it again by themselves",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rftgym", description="Multi-turn agentic RFT: envs, rollouts, trajectory files."
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list the registered environments; `envs lint` checks their tasks")
    p.set_defaults(func=cmd_envs)
    _add_import(p)
    lint = p.add_subparsers(metavar="[lint]").add_parser(
        "lint",
        help="check an env: task ids unique, gymnasium's check_env, the oracle scores 1.0, doing nothing "
        "scores 0; plus the env's own task linter (customer service: reference actions valid...)",
    )
    lint.add_argument(
        "env_ids",
        nargs="*",
        metavar="ENV_ID",
        help="envs to lint, e.g. examples.custom_env:units/UnitDesk-v0 (default: every env with a task "
        "linter, and those that --import registers)",
    )
    _add_import(lint, keep_parent=True)
    lint.add_argument(
        "--num-train", type=int, default=100, help="train tasks checked besides the test split (default: 100)"
    )
    lint.set_defaults(func=cmd_envs_lint)

    p = sub.add_parser("rollout", help="play episodes of an env with a policy and write a trajectory file")
    p.add_argument(
        "env_id",
        help="Gymnasium id, e.g. rftgym/MathTools-v0; MODULE:ENV_ID imports MODULE first "
        "(your own env: examples.custom_env:units/UnitDesk-v0)",
    )
    _add_import(p)
    p.add_argument(
        "--policy",
        default="openai",
        choices=["openai", "oracle", "noop"],
        help="openai: an OpenAI-compatible endpoint; oracle/noop: validation policies that need no model",
    )
    p.add_argument(
        "--base-url", help="the endpoint, e.g. http://localhost:8000/v1 (vLLM, Ollama, llama.cpp, rftgym serve)"
    )
    p.add_argument("--model", help="model name to request from the endpoint")
    p.add_argument("--api-key", default="EMPTY", help="API key sent to the endpoint (default: EMPTY)")
    p.add_argument(
        "--tool-format",
        default="native",
        choices=["native", "text"],
        help="native: the endpoint's tool calling; text: tools described in the prompt and "
        "<tool_call> / ReAct calls parsed from the reply, for text-only models",
    )
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument for gymnasium.make (VALUE is parsed as JSON when it can be); repeatable",
    )
    p.add_argument("--split", default="test", help="task split to play (default: test)")
    p.add_argument("--num-tasks", type=int, help="play the first N tasks of the split (default: all)")
    p.add_argument("--group-size", type=int, default=1, help="episodes per task (default: 1)")
    p.add_argument("--concurrency", type=int, default=8, help="episodes played at once (default: 8)")
    p.add_argument("--max-turns", type=int, help="assistant turns before an episode is truncated (env default)")
    p.add_argument(
        "--user-base-url",
        help="customer-service envs: an OpenAI-compatible endpoint for an LLM customer "
        "(default: the scripted customer, no model needed)",
    )
    p.add_argument("--user-model", help="customer-service envs: the LLM customer's model name")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: 1.0)")
    p.add_argument("--max-tokens", type=int, help="max tokens per assistant turn")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="deadline per policy request in seconds, retries included"
    )
    p.add_argument(
        "--turn-timeout",
        type=float,
        default=600.0,
        help="seconds one turn (policy call plus env step) may take before the episode is cut off",
    )
    p.add_argument("--episode-timeout", type=float, default=1800.0, help="seconds one episode may take in all")
    p.add_argument("--out", type=Path, help="trajectory file (default: runs/<env>-<time>.jsonl)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue --out: skip its finished episodes, play again those recorded with an error "
        "(refused if --out holds another env, model or sampling, unless --force)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="without --resume: OVERWRITE an existing --out (by default it is refused); with --resume: "
        "continue a file of another env, model or sampling. Never appends to a non-trajectory file",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed of the episodes' resets (requests carry no sampling seed: one fixed seed would make "
        "the samples of a group identical)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="play the episodes on rollout workers of a Ray cluster (ADDRESS: auto, HOST:6379, "
        "ray://HOST:10001; none: start a local Ray); this process still writes --out. "
        "Needs: pip install 'rftgym[ray]'",
    )
    p.add_argument("--ray-workers", type=int, help="with --ray: rollout-worker actors (default: one per node)")
    _add_judge(p)
    p.set_defaults(func=cmd_rollout)

    p = sub.add_parser("stats", help="summarise trajectory files")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--threshold", type=float, default=1.0, help="outcome reward that counts as success (default: 1.0)")
    p.add_argument("--per-task", action="store_true", help="also print one row per task (its group of episodes)")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("report", help="one self-contained HTML report of trajectory files or a training run folder")
    p.add_argument("files", nargs="+", type=Path, help="trajectory files, or one train/online output folder")
    p.add_argument("--compare", nargs="+", type=Path, default=[], help="trajectory files to show side by side")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file (default: report.html)")
    p.add_argument("--steps", help="run folder: embed the rollouts of these steps only (e.g. 1,10,20)")
    p.add_argument("--threshold", type=float, default=1.0, help="outcome reward that counts as success (default: 1.0)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "baseline", help="Step 0 readiness check: pass@k, reward spread and a verdict on a sample of the train split"
    )
    p.add_argument("env_id", help="Gymnasium id, e.g. rftgym/MathTools-v0")
    p.add_argument("--policy", default="openai", choices=["openai", "oracle", "noop"], help="as for rollout")
    p.add_argument("--base-url", help="the endpoint serving the base model, e.g. http://localhost:8000/v1")
    p.add_argument("--model", help="model name to request from the endpoint")
    p.add_argument("--api-key", default="EMPTY", help="API key sent to the endpoint (default: EMPTY)")
    p.add_argument("-k", type=int, default=8, help="samples per task (default: 8)")
    p.add_argument("--num-tasks", type=int, default=100, help="train tasks to play (default: 100)")
    p.add_argument("--split", default="train", help="task split (default: train)")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="as for rollout; repeatable")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: 1.0)")
    p.add_argument("--max-tokens", type=int, help="max tokens per assistant turn")
    p.add_argument("--concurrency", type=int, default=8, help="episodes played at once (default: 8)")
    p.add_argument("--out", type=Path, help="trajectory file (default: runs/baseline-<env>-<time>.jsonl)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--seed", type=int, default=0, help="base seed of the episodes' resets (sampling is unseeded)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_judge(p)
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("validate", help="check trajectory files; lists file:line for every bad line")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("rescore", help="recompute every reward of a trajectory file with a rubric, into a new file")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--rubric",
        help="module:attr of a rftgym.rewards.Rubric (or an env class, or a function "
        "returning one); default: each episode's env's own rubric",
    )
    p.add_argument("--out", type=Path, required=True, help="the new trajectory file (must not exist)")
    _add_judge(p)
    _add_import(p)
    p.set_defaults(func=cmd_rescore)

    p = sub.add_parser("export", help="write a fine-tuning dataset from trajectory files or an env's task split")
    p.add_argument("files", nargs="*", type=Path, help="trajectory files (or use --env)")
    p.add_argument(
        "--format",
        required=True,
        choices=["bedrock-rft", "openai-sft"],
        help="bedrock-rft: prompts + reference_answer (+ tools) for Bedrock/Nova RFT; "
        "openai-sft: the successful episodes as chat fine-tuning data",
    )
    p.add_argument("--out", type=Path, required=True, help="the JSONL file to write (refused if it exists)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--env", help="bedrock-rft from an env's tasks instead of files, e.g. rftgym/MathTools-v0")
    p.add_argument("--split", default="train", help="with --env: the task split (default: train)")
    p.add_argument("--num-tasks", type=int, help="with --env: the first N tasks of the split")
    p.add_argument(
        "--threshold",
        type=float,
        default=1.0,
        help="openai-sft: the total reward an episode needs to be exported (default: 1.0)",
    )
    p.add_argument("--limit", type=int, help="write at most N records")
    _add_import(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="serve a transformers model over an OpenAI-compatible API (needs the train extra)")
    p.add_argument("--model", default="tiny", help="a local HF folder, a hub id, or 'tiny' (built locally; default)")
    p.add_argument("--served-model-name", help="the model name clients send (default: --model)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000; 0 picks a free one)")
    p.add_argument("--device", help="cuda, cpu... (default: cuda when available)")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="weights dtype (auto: bf16 on GPU, fp32 on CPU)",
    )
    p.add_argument("--max-batch-size", type=int, default=64, help="most completions decoded together (default: 64)")
    p.add_argument("--default-max-tokens", type=int, default=512, help="token budget of requests that set none")
    p.add_argument(
        "--watch",
        type=Path,
        help="hot-reload the newest checkpoint appearing in this folder (a trainer's OUTPUT_DIR/checkpoints)",
    )
    p.add_argument("--seed", type=int, help="seed of the sampling of requests that bring no seed")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("train", help="GRPO training on trajectory files, or online on an env (needs the train extra)")
    p.add_argument("files", nargs="*", type=Path, help="trajectory files (or use --online ENV_ID)")
    p.add_argument(
        "--online",
        metavar="ENV_ID",
        help="the online loop: serve the weights, play the env, train, reload (MODULE:ENV_ID or --import "
        "MODULE for your own env)",
    )
    _add_import(p)
    p.add_argument("--steps", type=int, default=20, help="--online: optimizer steps in all (default: 20)")
    p.add_argument("--tasks-per-step", type=int, default=8, help="--online: train tasks per step (default: 8)")
    p.add_argument("--group-size", type=int, default=4, help="--online: episodes per task (default: 4)")
    p.add_argument("--max-tokens", type=int, default=256, help="--online: tokens per assistant turn (default: 256)")
    p.add_argument("--val-every", type=int, default=5, help="--online: validate on the test split every N steps")
    p.add_argument("--val-tasks", type=int, default=16, help="--online: test tasks per validation (default: 16)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="--online: play the rollouts on rollout workers of a Ray cluster (ADDRESS: auto, HOST:6379, "
        "ray://HOST:10001; none: start a local Ray); the trainer stays here. Needs: pip install 'rftgym[ray]'",
    )
    p.add_argument("--ray-workers", type=int, help="with --ray: rollout-worker actors (default: one per node)")
    p.add_argument(
        "--engine",
        choices=("builtin", "vllm"),
        default="builtin",
        help="--online: what generates the rollouts: builtin (the transformers endpoint in this process, "
        "the default) or vllm (vLLM replicas; weights reloaded after every step without a restart)",
    )
    p.add_argument("--vllm-replicas", type=int, default=1, help="--engine vllm: replicas to launch (default: 1)")
    p.add_argument(
        "--vllm-url",
        action="append",
        default=[],
        metavar="URL",
        help="--engine vllm: a running vLLM server to use instead of launching (http://HOST:PORT, started with "
        "VLLM_SERVER_DEV_MODE=1 and --served-model-name policy); repeatable",
    )
    p.add_argument(
        "--vllm-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="--engine vllm: an argument for launched replicas' vllm serve, e.g. --vllm-arg=--dtype=bfloat16; "
        "repeatable",
    )
    p.add_argument(
        "--vllm-python",
        help="--engine vllm: the Python that has vLLM (default: $RFTGYM_VLLM_PYTHON, else this one)",
    )
    p.add_argument(
        "--max-staleness",
        type=int,
        default=0,
        help="--online: weights versions an episode may lag the trainer (0: on-policy, the default; K: the "
        "rollouts of up to K steps ahead play while the trainer works, paced, none discarded)",
    )
    p.add_argument(
        "--importance-cap",
        type=float,
        default=0.0,
        help="truncated importance sampling of samples from other weights: the cap of each token's weight "
        "(0: off; --online with --max-staleness or --engine vllm sets 2)",
    )
    p.add_argument(
        "--sync-tolerance",
        type=float,
        default=1e-3,
        help="--online: largest logprob difference between engine and trainer after a weight sync before "
        "the run stops (default: 1e-3, float32 on both sides; raise it for a bf16 engine)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="--online: interface of the built-in endpoint the rollouts call (default: 127.0.0.1, this "
        "machine only; 0.0.0.0 when --ray has nodes on other machines)",
    )
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--online: keyword argument for gymnasium.make; repeatable",
    )
    p.add_argument("--model", default="tiny", help="starting weights: a local HF folder, a hub id or 'tiny'")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=Path("runs/train"),
        help="metrics.jsonl, checkpoints/ (and plots/) go here (default: runs/train)",
    )
    p.add_argument(
        "--plots",
        action="store_true",
        help="also draw every metric as a PNG in OUTPUT_DIR/plots at the end (`rftgym report OUTPUT_DIR` "
        "draws the same curves as HTML at any time)",
    )
    p.add_argument("--advantage", default="grpo", help="advantage estimator: grpo or turn (default: grpo)")
    p.add_argument("--gamma", type=float, default=1.0, help="discount of later turns for --advantage turn")
    p.add_argument("--lr", type=float, default=1e-6, help="learning rate (default: 1e-6)")
    p.add_argument("--batch-size", type=int, default=64, help="token sequences per optimizer step (default: 64)")
    p.add_argument(
        "--micro-batch-size", type=int, default=8, help="sequences per forward/backward with --no-pack (default: 8)"
    )
    p.add_argument(
        "--micro-batch-tokens",
        type=int,
        default=4096,
        help="token budget of a packed forward/backward (default: 4096)",
    )
    p.add_argument("--no-pack", dest="pack", action="store_false", help="pad rows instead of packing them")
    p.add_argument("--epochs", type=int, default=1, help="passes over the data (default: 1)")
    p.add_argument("--kl-coef", type=float, default=0.0, help="KL penalty to the starting model (default: 0, off)")
    p.add_argument(
        "--temperature",
        type=float,
        help="the data's sampling temperature (default: what the files record, else 1.0; "
        "--online: the rollouts' temperature, default 1.0)",
    )
    p.add_argument("--max-length", type=int, help="leave out episodes longer than this many tokens")
    p.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (default: only at the end)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations (GPU memory)")
    p.add_argument("--lora-rank", type=int, default=0, help="train LoRA adapters of this rank (needs peft)")
    p.add_argument("--device", help="cuda, cpu... (default: cuda when available)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    p.add_argument(
        "--log-to",
        default="",
        metavar="TRACKERS",
        help="also log the metrics to tensorboard, mlflow and/or wandb (comma-separated; files under --output-dir)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of shuffling and initialisation")
    p.add_argument(
        "--readiness-tasks",
        type=int,
        default=8,
        help="--online: train tasks of the readiness check (rftgym baseline, --group-size samples each) run "
        "through the loop's endpoint before the first step (default: 8)",
    )
    p.add_argument("--skip-readiness", action="store_true", help="--online: no readiness check")
    p.add_argument(
        "--require-ready",
        action="store_true",
        help="--online: stop (exit 1) unless the readiness verdict is ready (default: warn and train)",
    )
    _add_judge(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the per-step lines stay)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sandbox", help="the Docker code sandbox: build-image, gc, selftest")
    box = p.add_subparsers(required=True, metavar="ACTION")
    q = box.add_parser("build-image", help="build the sandbox image from Debian packages (no registry needed)")
    q.add_argument("--tag", help="image tag (default: the tag the sandbox uses)")
    q.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="DEB",
        help="extra Debian package for tasks, e.g. python3-numpy; repeatable",
    )
    q.add_argument("--mirror", help="Debian mirror URI (default: the one the machine's apt sources name)")
    q.add_argument("--suite", help="Debian release with --mirror, e.g. bookworm")
    q.set_defaults(func=cmd_sandbox_build_image)
    q = box.add_parser("gc", help="remove sandbox containers left by dead processes or past their time-to-live")
    q.add_argument("--all", action="store_true", help="remove every rftgym container, live owners' too")
    q.set_defaults(func=cmd_sandbox_gc)
    q = box.add_parser("selftest", help="attack the live sandbox with hostile code and print what held")
    q.add_argument("--image", help="image to test (default: the sandbox's)")
    q.set_defaults(func=cmd_sandbox_selftest)

    p = sub.add_parser("bridge", help="serve an env where a managed RFT service runs agents: sagemaker")
    bridges = p.add_subparsers(required=True, metavar="SERVICE")
    q = bridges.add_parser("sagemaker", help="SageMaker AI agent RFT: GET /health, POST /rollout (one episode each)")
    q.add_argument("env_id", help="Gymnasium id, e.g. rftgym/MathTools-v0; MODULE:ENV_ID imports MODULE first")
    _add_import(q)
    q.add_argument("--host", default="0.0.0.0", help="interface to listen on (default: 0.0.0.0)")
    q.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080; 0 picks a free one)")
    q.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="as for rollout; repeatable")
    q.add_argument("--api-key", default="EMPTY", help="bearer token for the job runtime (default: EMPTY)")
    q.add_argument("--episode-timeout", type=float, default=1800.0, help="seconds per episode (default: 1800)")
    q.add_argument("--turn-timeout", type=float, default=600.0, help="seconds per turn (default: 600)")
    q.set_defaults(func=cmd_bridge_sagemaker)

    p = sub.add_parser("mcp", help="an env's tools as an MCP server (needs the mcp extra)")
    actions = p.add_subparsers(required=True, metavar="ACTION")
    q = actions.add_parser("serve", help="serve an env's tools over MCP: stdio (default) or Streamable HTTP")
    q.add_argument("env_id", help="Gymnasium id, e.g. rftgym/Retail-v0; MODULE:ENV_ID imports MODULE first")
    _add_import(q)
    q.add_argument("--task-id", help="reset the env onto this task (default: the first task of --split)")
    q.add_argument("--split", default="test", help="task split of the default task (default: test)")
    q.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="as for rollout; repeatable")
    q.add_argument("--http", action="store_true", help="serve Streamable HTTP at http://HOST:PORT/mcp, not stdio")
    q.add_argument("--host", default="127.0.0.1", help="with --http: interface to listen on (default: 127.0.0.1)")
    q.add_argument("--port", type=int, default=8000, help="with --http: TCP port (default: 8000; 0 picks a free one)")
    q.set_defaults(func=cmd_mcp_serve)
    return parser


def cmd_bridge_sagemaker(args: argparse.Namespace) -> int:
    from rftgym.bridges.sagemaker import AgentServer

    env_id = _check_env_id(args.env_id)
    env_kwargs = dict(_parse_env_arg(a) for a in args.env_arg)
    _check_chat_env(env_id, env_kwargs)
    server = AgentServer(
        env_id,
        env_kwargs=env_kwargs,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        episode_timeout=args.episode_timeout,
        turn_timeout=args.turn_timeout,
    )
    # The first stdout line is the agent server's URL.
    server.serve_forever(on_ready=lambda url: print(url, flush=True))
    return 0


def cmd_mcp_serve(args: argparse.Namespace) -> int:
    import gymnasium

    from rftgym.envs import chat_env

    try:
        from rftgym.bridges import mcp
    except ImportError as e:
        raise UserError(str(e)) from None
    env_id = _check_env_id(args.env_id)
    env_kwargs = dict(_parse_env_arg(a) for a in args.env_arg)
    _check_chat_env(env_id, env_kwargs)
    env = chat_env(gymnasium.make(env_id, **env_kwargs))
    try:
        task = env.task_by_id(args.task_id) if args.task_id else env.tasks(args.split, 1)[0]
    except (KeyError, IndexError) as e:
        raise UserError(f"no task to serve the tools of: {e}") from None
    env.reset(seed=0, options={"task": task})
    try:
        if args.http:  # the first stdout line is the server's URL
            mcp.serve_http(env, args.host, args.port, on_ready=lambda url: print(url, flush=True))
        else:
            mcp.serve_stdio(env)
    except KeyboardInterrupt:
        pass
    finally:
        env.close()
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from rich.table import Table

    from rftgym.envs import registered_envs
    from rftgym.envs.registry import describe_env

    table = Table("id", "description")
    for env_id, description in registered_envs().items():
        table.add_row(env_id, description)
    for env_id in args.new_envs:  # registered by --import
        if (about := describe_env(env_id)) is not None:
            table.add_row(env_id, about)
    Console().print(table)
    return 0


@runtime_checkable
class _Lintable(Protocol):
    """An env with a task linter, the ``lint`` method ``rftgym envs lint`` calls."""

    def lint(self, num_train: int = ...) -> tuple[int, list[str]]: ...


def cmd_envs_lint(args: argparse.Namespace) -> int:
    import gymnasium

    from rftgym.envs import registered_envs
    from rftgym.lint import lint_env

    own = [e for e in registered_envs() if _has_task_linter(e)]  # the default: never made otherwise
    bad = 0
    for env_id in [_check_env_id(e) for e in args.env_ids] or [*own, *args.new_envs]:
        try:
            checked, problems = lint_env(env_id, num_train=args.num_train)
        except TypeError as e:  # a Gymnasium env that is not a ChatEnv
            raise UserError(str(e)) from None
        if _has_task_linter(env_id):
            env = gymnasium.make(env_id).unwrapped
            if isinstance(env, _Lintable):  # for the type checker: its class has ``lint``
                more, found = env.lint(num_train=args.num_train)
                checked, problems = max(checked, more), problems + found
        for problem in problems:
            print(f"{env_id}: {problem}")
        bad += len(problems)
        console.print(f"{env_id}: {checked} tasks checked, {len(problems)} problems", highlight=False)
    return 1 if bad else 0


def _has_task_linter(env_id: str) -> bool:
    """Whether ``env_id``'s class has a task linter of its own (found without making the env)."""
    import gymnasium
    from gymnasium.envs.registration import load_env_creator

    entry = gymnasium.spec(env_id).entry_point
    creator = entry if callable(entry) or entry is None else load_env_creator(entry)
    return hasattr(creator, "lint")


def _ray_executor(address: str, workers: int | None) -> Any:
    """The executor of ``--ray [ADDRESS]``; without Ray installed, one line saying how to install it."""
    try:
        from rftgym.executors import RayExecutor

        return RayExecutor(address, workers=workers)
    except ImportError as e:
        raise UserError(str(e)) from None


def cmd_rollout(args: argparse.Namespace) -> int:
    import gymnasium

    from rftgym.agents import make_policy
    from rftgym.envs import chat_env
    from rftgym.rollout import check_out, rollout
    from rftgym.trajectories import read_trajectories, stats_table, summarize

    executor = _ray_executor(args.ray, args.ray_workers) if args.ray is not None else None
    if args.resume and args.out is not None:  # the file's own env: import what its episodes recorded
        args.imports += _import_recorded(args.out)
    env_id = _check_env_id(args.env_id)
    modules = [*args.imports, *([args.env_id.split(":", 1)[0]] if ":" in args.env_id else [])]
    env_kwargs = dict(_parse_env_arg(a) for a in args.env_arg)
    if args.max_turns is not None:
        env_kwargs["max_turns"] = args.max_turns
    for key in ("user_base_url", "user_model"):
        if getattr(args, key):
            env_kwargs[key] = getattr(args, key)
    if args.resume and args.out is None:
        raise UserError("--resume needs --out FILE (the file to continue)")
    out = args.out or Path("runs") / f"{env_id.split('/')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    oracle_env = None
    try:
        # The oracle reads the reference solutions through one env instance of its own.
        oracle_env = chat_env(gymnasium.make(env_id, **env_kwargs)) if args.policy == "oracle" else None
        policy = make_policy(
            args.policy,
            oracle=oracle_env.oracle_action if oracle_env else None,
            base_url=args.base_url,
            model=args.model,
            tool_format=args.tool_format,
            api_key=args.api_key,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            timeout=args.timeout,
        )
        check_out(out, env_id, policy.describe(), resume=args.resume, force=args.force)
        _check_writable(out)
    except (TypeError, ValueError, UserError) as e:
        if oracle_env is not None:
            oracle_env.close()
        raise UserError(str(e)) from None
    if hasattr(policy, "check"):
        try:
            served = asyncio.run(policy.check())
        except Exception as e:
            raise UserError(str(e)) from None
        if isinstance(served, list) and args.model not in served:
            raise UserError(
                f"endpoint {args.base_url} does not serve model {args.model!r}; it serves: "
                f"{', '.join(map(repr, served)) or 'no model'}"
            )
    existed = out.exists()
    try:
        result = rollout(
            env_id,
            policy,
            out,
            env_kwargs=env_kwargs,
            split=args.split,
            num_tasks=args.num_tasks,
            group_size=args.group_size,
            concurrency=args.concurrency,
            seed=args.seed,
            resume=args.resume,
            force=args.force,
            progress=not args.no_progress,
            turn_timeout=args.turn_timeout,
            episode_timeout=args.episode_timeout,
            env_modules=list(dict.fromkeys(modules)) or None,
            executor=executor,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"cannot run {env_id}: {e}") from None
    except (ConnectionError, RuntimeError) as e:  # the cluster cannot be reached, or hosts no worker
        if executor is None:
            raise
        if not existed and out.exists() and out.stat().st_size == 0:
            out.unlink()  # exit 2: nothing written, not even an empty file
        raise UserError(f"--ray: {' '.join(str(e).split())[:400]}") from None
    finally:
        if oracle_env is not None:
            oracle_env.close()
    if result.written:  # this run's episodes only: the file may hold earlier runs' too
        played = set(result.episode_ids)
        Console().print(stats_table(summarize(t for t in read_trajectories(out, latest_only=True) if t.id in played)))
    note = " (interrupted: run again with --resume to finish)" if result.interrupted else ""
    console.print(
        f"{result.written} episodes written, {result.skipped} already there, "
        f"{result.errors} with errors -> {out}{note}",
        highlight=False,
    )
    if result.replayed:
        console.print(f"{result.replayed} episodes played again after their Ray worker was lost", highlight=False)
    if result.interrupted:
        return 130
    if result.stopped:
        console.print(f"[red]error:[/] {' '.join(result.stopped.split())[:400]}", highlight=False)
        return 1
    if result.written and result.errors == result.written:
        first = " ".join((result.first_error or "unknown error").split())[:300]
        console.print(f"[red]error:[/] every episode failed; the first: {first}", highlight=False)
        return 1
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from rftgym.trajectories import stats_table, summarize

    summary = summarize(_read_all(args.files, latest_only=True), success_threshold=args.threshold)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        Console().print(stats_table(summary))
        if args.per_task:
            Console().print(_per_task_table(summary["per_task"]))
    for warning in summary["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return 0


def _per_task_table(rows: list[dict]) -> Any:
    from rich.table import Table

    table = Table(title="per task")
    for name, key in (("env", "env_id"), ("task", "task_id")):  # ids are never cut short
        table.add_column(name, no_wrap=True, min_width=max((len(row[key]) for row in rows), default=4))
    for name in ("episodes", "mean reward", "success rate", "errors"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(
            row["env_id"],
            row["task_id"],
            str(row["episodes"]),
            f"{row['reward']:.3f}",
            f"{row['success_rate']:.3f}",
            str(row["errors"]),
        )
    return table


def cmd_report(args: argparse.Namespace) -> int:
    from rftgym.report import rollout_files, write_report, write_run_report
    from rftgym.trajectories import TrajectoryFileError

    try:
        steps = {int(s) for s in args.steps.split(",")} if args.steps else None
    except ValueError:
        raise UserError(f"--steps takes step numbers separated by commas, got {args.steps!r}") from None
    try:
        if len(args.files) == 1 and args.files[0].is_dir():
            if args.compare:
                raise UserError("--compare takes trajectory files, not a run folder")
            if not (args.files[0] / "metrics.jsonl").is_file() and not rollout_files(args.files[0]):
                raise UserError(f"{args.files[0]} holds neither metrics.jsonl nor rollouts/*.jsonl: not a training run")
            out = write_run_report(args.files[0], args.out, steps=steps, success_threshold=args.threshold)
        else:
            for path in [*args.files, *args.compare]:
                _check_file(path)
            out = write_report(args.files, args.out, compare=args.compare, success_threshold=args.threshold)
    except TrajectoryFileError as e:
        raise UserError(f"{e} (run `rftgym validate` on the file to list every bad line)") from None
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB)", highlight=False)
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Exit 0 when the verdict is ready, 1 for any other verdict (so a script can gate training on it)."""
    import gymnasium

    from rftgym.agents import PolicyError, make_policy
    from rftgym.baseline import baseline
    from rftgym.envs import chat_env

    env_id = _check_env_id(args.env_id)
    env_kwargs = dict(_parse_env_arg(a) for a in args.env_arg)
    out = args.out or Path("runs") / f"baseline-{env_id.split('/')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    try:
        oracle = chat_env(gymnasium.make(env_id, **env_kwargs)).oracle_action if args.policy == "oracle" else None
        # No sampling seed: a fixed seed would make the k samples of a prompt identical.
        policy = make_policy(
            args.policy, oracle=oracle, base_url=args.base_url, model=args.model, api_key=args.api_key,
            temperature=args.temperature, max_tokens=args.max_tokens,
        )  # fmt: skip
        if hasattr(policy, "check"):
            served = asyncio.run(policy.check())
            if isinstance(served, list) and args.model not in served:
                raise ValueError(f"endpoint {args.base_url} does not serve model {args.model!r}; it serves: {served}")
        report = baseline(
            env_id, policy, out, k=args.k, num_tasks=args.num_tasks, split=args.split, env_kwargs=env_kwargs,
            concurrency=args.concurrency, seed=args.seed, force=args.force, progress=not args.no_progress,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, PolicyError) as e:
        raise UserError(f"baseline of {env_id}: {e}") from None
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    console.print(f"episodes -> {out}", highlight=False)
    return 0 if report.verdict == "ready" else 1


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


def cmd_rescore(args: argparse.Namespace) -> int:
    from rftgym.rescore import load_rubric, rescore_file
    from rftgym.trajectories import TrajectoryFileError

    _check_file(args.file)
    _check_writable(args.out)
    try:
        rubric = load_rubric(args.rubric) if args.rubric else None
        notice = functools.partial(console.print, highlight=False)
        count = rescore_file(args.file, args.out, rubric, label=args.rubric or "", notice=notice)
    except (ValueError, TrajectoryFileError) as e:
        raise UserError(str(e)) from None
    console.print(f"{count} episodes rescored -> {args.out}", highlight=False)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rftgym import export
    from rftgym.rescore import EnvTasks

    if bool(args.files) == bool(args.env):
        raise UserError("give trajectory files or --env ENV_ID (not both)")
    if args.env and args.format != "bedrock-rft":
        raise UserError("--env exports task prompts, which only --format bedrock-rft takes")
    if args.out.exists() and args.out.stat().st_size and not args.out.is_dir() and not args.force:
        raise UserError(f"{args.out} already exists and is not empty; --force overwrites it")
    _check_writable(args.out)
    try:
        if args.env:
            import gymnasium

            from rftgym.envs import chat_env

            env = chat_env(gymnasium.make(_check_env_id(args.env)))
            records = export.tasks_to_bedrock(env, env.tasks(args.split, args.num_tasks))
        elif args.format == "bedrock-rft":
            records = export.trajectories_to_bedrock(_read_all(args.files, latest_only=True), EnvTasks().task)
        else:
            records = export.sft_records(_read_all(args.files, latest_only=True), args.threshold)
        kept = list(records)[: args.limit]
        warning = export.check_bedrock_size(len(kept)) if args.format == "bedrock-rft" else None
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(str(e)) from None
    count = export.write_jsonl(kept, args.out)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"{count} {args.format} records -> {args.out}", highlight=False)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from rftgym.serving import serve_forever

    try:
        serve_forever(
            args.model,
            served_name=args.served_model_name,
            host=args.host,
            port=args.port,
            device=args.device,
            dtype=args.dtype,
            max_batch_size=args.max_batch_size,
            default_max_tokens=args.default_max_tokens,
            watch=args.watch,
            seed=args.seed,
        )
    except (OSError, ValueError) as e:
        raise UserError(f"cannot serve {args.model}: {' '.join(str(e).split())[:300]}") from None
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rftgym.training import AdvantageOptions, GRPOTrainer, TrainConfig, trajectories_to_tensors

    if bool(args.files) == bool(args.online):
        raise UserError("give trajectory files or --online ENV_ID (not both)")
    if not args.online and (args.ray is not None or args.host != "127.0.0.1"):
        raise UserError("--ray and --host go with --online (training on files plays no episodes)")
    if args.engine != "vllm" and (args.vllm_url or args.vllm_arg or args.vllm_python or args.vllm_replicas != 1):
        raise UserError("--vllm-url, --vllm-arg, --vllm-python and --vllm-replicas go with --engine vllm")
    if args.engine == "vllm" and args.ray is not None:
        raise UserError("--engine vllm plays the rollouts in this process: it does not combine with --ray yet")
    for path in args.files:
        _check_file(path)
    config = TrainConfig(
        model=args.model,
        output_dir=args.output_dir,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        micro_batch_size=args.micro_batch_size,
        pack=args.pack,
        micro_batch_tokens=args.micro_batch_tokens,
        epochs=args.epochs,
        kl_coef=args.kl_coef,
        temperature=args.temperature or 1.0,
        save_every=args.save_every,
        gradient_checkpointing=args.gradient_checkpointing,
        lora_rank=args.lora_rank,
        importance_cap=args.importance_cap,
        device=args.device,
        seed=args.seed,
        log_to=_log_to(args.log_to),
        plots=args.plots,
    )

    def show(step: int, metrics: dict[str, float]) -> None:
        console.print(
            f"step {step}: reward {metrics['critic/rewards/mean']:.3f}  "
            f"entropy {metrics['actor/entropy']:.3f}  clipfrac {metrics['actor/pg_clipfrac']:.3f}  "
            f"grad_norm {metrics['actor/grad_norm']:.3f}  {metrics['perf/tokens_per_s']:.0f} tokens/s"
            + "".join(f"  val {v:.3f}" for k, v in metrics.items() if k.startswith("val-score")),
            highlight=False,
        )

    if args.online:
        return _train_online(args, config, show)
    try:
        trainer = GRPOTrainer(config, resume=args.resume)
        batch = trajectories_to_tensors(
            args.files,
            trainer.tokenizer,
            advantage=args.advantage,
            options=AdvantageOptions(gamma=args.gamma),
            max_length=args.max_length,
        )
    except (OSError, ValueError, ImportError) as e:
        raise UserError(" ".join(str(e).split())[:300]) from None
    for drift in batch.drift:
        console.print(f"[yellow]drift:[/] {drift}", highlight=False)
    left_out = ", ".join(f"{n} {reason}" for reason, n in batch.skipped.items())
    console.print(
        f"{len(batch.episodes)} episodes, {len(batch)} sequences, {int(batch.loss_mask.sum())} sampled "
        f"tokens; left out: {len(batch.drift)} drift{', ' + left_out if left_out else ''}",
        highlight=False,
    )
    if not len(batch):
        raise UserError("no episodes to train on")
    if args.temperature is None and batch.temperature:  # greedy data (0) is scored at 1
        trainer.config.temperature = batch.temperature
    console.print(f"scoring tokens at temperature {trainer.config.temperature:g}", highlight=False)
    # The most steps fit can take (a step without learning signal is skipped, leaving the bar short).
    steps = trainer.step + config.epochs * -(-len(batch) // config.batch_size)
    with _train_progress(not args.no_progress, steps, trainer.step, show) as on_step:
        trainer.fit(batch, on_step=on_step)
    console.print(
        f"checkpoint: {trainer.checkpoint_dir / f'step-{trainer.step:06d}'}  metrics: "
        f"{trainer.metrics.path}  {_curves(config)}",
        highlight=False,
    )
    return 0


def _curves(config: Any) -> str:
    """Where a finished run's curves are: its plots, else the command that draws them."""
    if config.plots:
        return f"plots: {config.output_dir / 'plots'}"
    return f"curves: rftgym report {config.output_dir}"


@contextlib.contextmanager
def _train_progress(
    enabled: bool, total: int, done: int, show: Callable[[int, dict[str, float]], None]
) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """The trainer's ``on_step``: prints the step's line (``show``) and moves the progress bar (steps
    done of ``total``, the last step's reward and entropy, ETA), the rollout's bar on stderr; no bar
    when not ``enabled`` (``--no-progress``)."""
    from rftgym.rollout import progress_bar

    fields = "reward {task.fields[reward]:.3f}  entropy {task.fields[entropy]:.3f}"
    nan = float("nan")
    with progress_bar(enabled, "train", total, fields, completed=done, console=console, reward=nan, entropy=nan) as bar:

        def on_step(step: int, metrics: dict[str, float]) -> None:
            show(step, metrics)
            bar(step, reward=metrics["critic/rewards/mean"], entropy=metrics["actor/entropy"])

        yield on_step


def _resumed_step(output_dir: Path) -> int:
    """The step of the checkpoint a resumed run starts from (0 when it has none)."""
    from rftgym.models.checkpoints import checkpoint_info, latest_checkpoint

    checkpoint = latest_checkpoint(output_dir / "checkpoints")
    return int((checkpoint_info(checkpoint) or {}).get("step", 0)) if checkpoint else 0


def _log_to(text: str) -> tuple[str, ...]:
    from rftgym.training.trackers import parse_log_to

    try:
        return parse_log_to(text)
    except ValueError as e:
        raise UserError(f"--log-to: {e}") from None


def _train_online(args: argparse.Namespace, config: Any, show: Any) -> int:
    from rich.markup import escape

    from rftgym.engines import EngineError
    from rftgym.training import AdvantageOptions
    from rftgym.training.online import OnlineConfig, train_online

    online = OnlineConfig(
        _check_env_id(args.online),
        steps=args.steps,
        tasks_per_step=args.tasks_per_step,
        group_size=args.group_size,
        temperature=args.temperature or 1.0,
        max_tokens=args.max_tokens,
        val_every=args.val_every,
        val_tasks=args.val_tasks,
        advantage=args.advantage,
        options=AdvantageOptions(gamma=args.gamma),
        env_kwargs=dict(_parse_env_arg(a) for a in args.env_arg),
        host=args.host,
        readiness_tasks=0 if args.skip_readiness else args.readiness_tasks,
        engine=args.engine,
        vllm_replicas=args.vllm_replicas,
        vllm_urls=args.vllm_url,
        vllm_args=args.vllm_arg,
        vllm_python=args.vllm_python,
        max_staleness=args.max_staleness,
        sync_tolerance=args.sync_tolerance,
    )
    _check_chat_env(online.env_id, online.env_kwargs)  # before the output folder is written to
    executor = _ray_executor(args.ray, args.ray_workers) if args.ray is not None else None
    try:
        done = _resumed_step(config.output_dir) if args.resume else 0
        with _train_progress(not args.no_progress, online.steps, done, show) as on_step:
            history = train_online(
                online, config, resume=args.resume, on_step=on_step, executor=executor,
                on_readiness=functools.partial(_show_readiness, args.require_ready, config.output_dir),
            )  # fmt: skip
    except _NotReady as e:
        console.print(f"[red]error:[/] {e}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted: --resume goes on from the last checkpoint", highlight=False)
        return 130
    except EngineError as e:  # the last checkpoint is complete: the run can go on
        console.print(f"[red]error:[/] {escape(str(e))}; --resume goes on from the last checkpoint", highlight=False)
        return 1
    except (OSError, ValueError, ImportError, RuntimeError, TypeError) as e:  # a cluster's errors too
        raise UserError(" ".join(str(e).split())[:300]) from None
    replayed = sum(int(m.get("rollout/replayed", 0)) for m in history)
    if replayed:
        console.print(f"{replayed} episodes played again after their Ray worker was lost", highlight=False)
    final = history[-1].get("val-score/rewards/mean@1") if history else None
    console.print(
        f"done: {config.output_dir}/checkpoints, metrics {config.output_dir}/metrics.jsonl, "
        f"{_curves(config)}" + (f"; final val-score {final:.3f}" if final is not None else ""),
        highlight=False,
    )
    return 0


class _NotReady(Exception):
    """``--require-ready`` and a readiness verdict other than ready: one line, exit status 1."""


def _show_readiness(require: bool, output_dir: Path, report: Any) -> None:
    """Print the readiness check of ``train --online``: one line when ready, else the report and a
    warning, or stop with ``--require-ready``."""
    verdict = f"readiness: {report.verdict.upper()}: {report.reason}"
    where = f"(report: {output_dir}/readiness.json)"
    if report.verdict == "ready":
        console.print(f"{verdict} {where}", highlight=False)
        return
    if require:
        raise _NotReady(f"{verdict}; --require-ready stops here {where}")
    console.print("\n".join(report.lines()[:-1]), highlight=False)
    console.print(f"[yellow]warning:[/] {verdict}; training anyway (--require-ready stops here)", highlight=False)


def _read_all(paths: list[Path], *, latest_only: bool = False) -> list:
    """The episodes of every file; with ``latest_only``, each id's last line only (its result)."""
    from rftgym.trajectories import TrajectoryFileError, read_trajectories

    trajectories = []
    for path in paths:
        _check_file(path)
        try:
            trajectories += list(read_trajectories(path, latest_only=latest_only))
        except TrajectoryFileError as e:
            raise UserError(f"{e} (run `rftgym validate {path}` to list every bad line)") from None
    return trajectories


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a file")
    if not path.is_file():
        raise UserError(f"no such file: {path}")


def _check_writable(path: Path) -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, or a place where
    it cannot be created or changed. Leaves nothing behind but the parent folders it made."""
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a file")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):  # appends nothing: the file stays as it is
            pass
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    if not existed:
        path.unlink()


def _import_recorded(path: Path) -> list[str]:
    """Import the modules that the first episode of trajectory file ``path`` recorded as
    registering its env; the modules (none for a file that is missing or not a trajectory file)."""
    from rftgym.envs.registry import import_env_modules
    from rftgym.rescore import recorded_modules
    from rftgym.trajectories import is_trajectory_file, read_trajectories

    if not path.is_file() or not is_trajectory_file(path):
        return []
    first = next(read_trajectories(path, errors="skip"), None)
    modules = recorded_modules(first) if first else []
    try:
        import_env_modules(modules)
    except ValueError as e:
        raise UserError(f"{path} records its env's module, but {e}") from None
    return modules


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


def _check_chat_env(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Refuse a Gymnasium env that is not a ChatEnv (or cannot be made with ``env_kwargs``)."""
    import gymnasium

    from rftgym.envs import chat_env

    try:
        chat_env(gymnasium.make(env_id, **env_kwargs)).close()
    except (TypeError, ValueError, gymnasium.error.Error) as e:
        raise UserError(" ".join(str(e).split())[:300]) from None


def _parse_env_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"--env-arg takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _sandbox_client() -> Any:
    from rftgym.sandbox import DockerUnavailable, connect

    try:
        return connect()
    except DockerUnavailable as e:
        raise UserError(str(e)) from None


def cmd_sandbox_build_image(args: argparse.Namespace) -> int:
    from rftgym.sandbox.image import DEFAULT_IMAGE, ImageBuildError, Mirror, build_image

    if bool(args.mirror) != bool(args.suite):
        raise UserError("--mirror and --suite go together")
    mirror = Mirror(args.mirror, args.suite) if args.mirror else None
    try:
        build_image(
            args.tag or DEFAULT_IMAGE,
            args.package,
            mirror,
            _sandbox_client(),
            log=lambda line: console.print(line, highlight=False),
        )
    except ImageBuildError as e:
        raise UserError(str(e)) from None
    return 0


def cmd_sandbox_gc(args: argparse.Namespace) -> int:
    from rftgym.sandbox import reap

    removed = reap(_sandbox_client(), everything=args.all)
    console.print(f"removed {removed} sandbox container(s)", highlight=False)
    return 0


def cmd_sandbox_selftest(args: argparse.Namespace) -> int:
    from rich.table import Table

    from rftgym.sandbox import DEFAULT_IMAGE, SandboxError, SandboxPool
    from rftgym.sandbox.selftest import run_all

    try:
        with SandboxPool(args.image or DEFAULT_IMAGE, size=2, client=_sandbox_client()) as pool:
            rows = run_all(pool)
    except SandboxError as e:
        raise UserError(str(e)) from None
    table = Table("attack", "result", "detail", title="rftgym sandbox selftest")
    for name, held, detail in rows:
        table.add_row(name, "[green]PASS[/]" if held else "[red]FAIL[/]", detail)
    Console().print(table)
    failed = sum(not held for _, held, _ in rows)
    console.print(f"{len(rows) - failed} passed, {failed} failed", highlight=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
