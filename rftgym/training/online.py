"""The online RFT loop: serve the current weights, collect a batch of groups, train, reload, repeat.

Each step ``N`` plays ``tasks_per_step`` train tasks (tasks ``N*tasks_per_step`` onwards, so a
resumed run plays the same ones) ``group_size`` times against the built-in endpoint, writes them to
``<output_dir>/rollouts/step-NNNNNN.jsonl``, takes one optimizer step on them, saves a checkpoint
and swaps the new weights into the endpoint (from memory, the trainer and the endpoint sharing the
process and one worker thread). Every ``val_every`` steps (and before the first) it plays the test
split once per task at temperature 0 and logs ``val-score/rewards/mean@1``. A run stopped at any
point continues from its last checkpoint with ``resume=True``.

Before the first step (not on resume) it runs Step 0, the readiness check of ``rftgym baseline``
(:mod:`rftgym.baseline`), on the first ``readiness_tasks`` train tasks, ``group_size`` samples
each, through its own endpoint: the episodes go to ``<output_dir>/readiness.jsonl``, the report
to ``<output_dir>/readiness.json``, and ``on_readiness`` gets it (and may raise to stop the run).

A step whose groups all scored evenly (every advantage 0) has no signal: the trainer refuses it,
and the loop plays the same tasks again into ``step-NNNNNN-retryK.jsonl``, at most
``MAX_NO_SIGNAL_RETRIES`` times before it stops with an error that says so.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium

from rftgym.agents import ChatPolicy
from rftgym.baseline import Readiness, baseline
from rftgym.envs import chat_env
from rftgym.rollout import Executor, rollout
from rftgym.serving import ModelServer
from rftgym.training.advantages import AdvantageOptions
from rftgym.training.data import TrainingBatch, trajectories_to_tensors
from rftgym.training.trainer import GRPOTrainer, TrainConfig
from rftgym.trajectories import read_trajectories

#: Fresh samples of a step's tasks the loop draws when a step has no signal, before it gives up.
MAX_NO_SIGNAL_RETRIES = 3


@dataclass
class OnlineConfig:
    """What the online loop plays.

    Attributes:
        env_id: Gymnasium id of the env.
        steps: Optimizer steps in all (a resumed run stops at the same total).
        tasks_per_step: Train tasks per step.
        group_size: Episodes per task (the GRPO group).
        temperature: Sampling temperature of the rollouts (the trainer scores at the same one).
        max_tokens: Token budget per assistant turn.
        val_every: Validate every N steps (0: never); ``val_tasks`` test tasks, one greedy sample each.
        val_tasks: Test tasks per validation (None: the whole split).
        advantage: Advantage estimator name.
        options: Its settings.
        env_kwargs: Keyword arguments for ``gymnasium.make``.
        concurrency: Episodes played at once.
        host: Interface the built-in endpoint listens on. ``127.0.0.1`` serves rollout workers on
            this machine (a local executor, or Ray nodes started here); workers on other machines
            need ``0.0.0.0``, and are then given this machine's address.
        readiness_tasks: Train tasks of the readiness check before the first step (0: no check).
    """

    env_id: str
    steps: int = 20
    tasks_per_step: int = 8
    group_size: int = 4
    temperature: float = 1.0
    max_tokens: int = 256
    val_every: int = 5
    val_tasks: int | None = 16
    advantage: str = "grpo"
    options: AdvantageOptions = field(default_factory=AdvantageOptions)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 32
    host: str = "127.0.0.1"
    readiness_tasks: int = 8


def train_online(
    online: OnlineConfig,
    config: TrainConfig,
    *,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    executor: Executor | None = None,
    on_readiness: Callable[[Readiness], None] | None = None,
) -> list[dict[str, float]]:
    """Run the loop until ``online.steps`` optimizer steps are done; returns the steps' metrics.

    ``executor`` says where the episodes are played (default: this process); with
    ``rftgym.executors.RayExecutor`` they are played on the cluster's rollout workers, which call
    the built-in endpoint (see ``OnlineConfig.host``), while the trainer stays here. A step's
    ``rollout/replayed`` metric then counts its episodes played again after a worker was lost.

    ``config.temperature`` is set to ``online.temperature``, so the trainer scores tokens under
    the distribution they were sampled from.
    """
    config.temperature = online.temperature
    trainer = GRPOTrainer(config, resume=resume)
    start = trainer.checkpoint_dir / f"step-{trainer.step:06d}" if trainer.step else trainer.base_path
    env = chat_env(gymnasium.make(online.env_id, **online.env_kwargs))
    train_tasks = env.tasks("train", online.steps * online.tasks_per_step)
    env.close()
    rollouts = trainer.output_dir / "rollouts"
    if not resume:  # a fresh run must not pick up a former run's episodes
        shutil.rmtree(rollouts, ignore_errors=True)
    history = []
    connected = getattr(executor, "connected", contextlib.nullcontext)  # a cluster: joined once for every step
    with (
        connected(),
        ModelServer(
            str(start),
            served_name="policy",
            host=online.host,
            default_max_tokens=online.max_tokens,
            seed=config.seed + trainer.step,
        ) as server,
    ):
        url = _reachable(server.base_url, online.host)
        policy = ChatPolicy(url, "policy", temperature=online.temperature, max_tokens=online.max_tokens)
        greedy = ChatPolicy(url, "policy", temperature=0.0, max_tokens=online.max_tokens)
        if online.readiness_tasks and not trainer.step:
            report = _readiness(online, policy, trainer.output_dir, config.seed, executor)
            if on_readiness is not None:
                on_readiness(report)
        retries, extra = 0, {}  # extra: the step's validation, kept over its retries
        while trainer.step < online.steps:
            step = trainer.step
            if online.val_every and step % online.val_every == 0 and not retries:
                extra["val-score/rewards/mean@1"] = _validate(
                    online, greedy, rollouts / f"val-{step:06d}.jsonl", config.seed, executor
                )
            tasks = train_tasks[step * online.tasks_per_step : (step + 1) * online.tasks_per_step]
            out = rollouts / (f"step-{step:06d}-retry{retries}.jsonl" if retries else f"step-{step:06d}.jsonl")
            played = rollout(
                online.env_id,
                policy,
                out,
                env_kwargs=online.env_kwargs,
                task_ids=[t.id for t in tasks],
                group_size=online.group_size,
                concurrency=online.concurrency,
                seed=config.seed + step + 1000 * retries,
                resume=True,
                progress=False,
                executor=executor,
            )
            if executor is not None:
                extra["rollout/replayed"] = float(played.replayed)
            batch = trajectories_to_tensors(out, trainer.tokenizer, advantage=online.advantage, options=online.options)
            if not len(batch):
                raise RuntimeError(f"step {step}: no episode of {out} can be trained on ({_why(out, batch)})")
            # The trainer runs on the server's worker thread: one thread for all torch work (see run_on_worker).
            metrics = server.run_on_worker(trainer.train_step, batch, extra_metrics=extra)
            if metrics.get("train/skipped"):
                retries += 1
                if retries > MAX_NO_SIGNAL_RETRIES:
                    raise RuntimeError(
                        f"step {step}: no learning signal in {retries} samples of its tasks "
                        "(every group scored evenly); the tasks are too easy or too hard for this policy"
                    )
                continue
            retries, extra = 0, {}
            history.append(metrics)
            checkpoint = server.run_on_worker(trainer.save_checkpoint)
            # The checkpoint's weights are in memory here (a LoRA model's are merged only on disk).
            weights = None if config.lora_rank else trainer.model.state_dict()
            server.run_on_worker(server.load, checkpoint, weights)
            if on_step is not None:
                on_step(trainer.step, history[-1])
        if online.val_every:
            final = {
                "val-score/rewards/mean@1": _validate(
                    online, greedy, rollouts / f"val-{trainer.step:06d}.jsonl", config.seed, executor
                )
            }
            trainer.metrics.write(trainer.step, final)
            history.append(final)
    trainer.plot()
    return history


def _readiness(
    online: OnlineConfig, policy: ChatPolicy, output_dir: Path, seed: int, executor: Executor | None
) -> Readiness:
    """Step 0 on the first ``readiness_tasks`` train tasks, ``group_size`` samples each."""
    try:
        report = baseline(
            online.env_id, policy, output_dir / "readiness.jsonl", k=online.group_size,
            num_tasks=online.readiness_tasks, env_kwargs=online.env_kwargs, concurrency=online.concurrency,
            seed=seed, force=True, progress=False, executor=executor,
        )  # fmt: skip
    except ValueError as e:
        raise ValueError(f"readiness check: {e}") from None
    (output_dir / "readiness.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _validate(online: OnlineConfig, policy: ChatPolicy, out: Path, seed: int, executor: Executor | None) -> float:
    """Mean reward of one greedy episode per test task."""
    out.unlink(missing_ok=True)
    rollout(
        online.env_id,
        policy,
        out,
        env_kwargs=online.env_kwargs,
        split="test",
        num_tasks=online.val_tasks,
        concurrency=online.concurrency,
        seed=seed,
        progress=False,
        executor=executor,
    )
    rewards = [t.reward for t in read_trajectories(out)]
    return sum(rewards) / max(len(rewards), 1)


def _why(out: Path, batch: TrainingBatch) -> str:
    errors = [t.error for t in read_trajectories(out) if t.error]
    reasons = [f"{n} {reason}" for reason, n in batch.skipped.items()] + [f"{len(batch.drift)} drift"] * bool(
        batch.drift
    )
    first = f"; first error: {errors[0]['type']}: {errors[0]['message']}" if errors else ""
    return (", ".join(reasons) or "no episodes") + first


def _reachable(base_url: str, host: str) -> str:
    """The endpoint's URL as rollout workers call it: an endpoint listening on every interface
    (``0.0.0.0``) is called at this machine's address, which other machines can reach."""
    if host not in ("0.0.0.0", "::", ""):
        return base_url
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.254.254.254", 1))  # no packet is sent: this picks the outgoing interface
        return base_url.replace(f"//{host}:", f"//{probe.getsockname()[0]}:", 1)
    return base_url.replace(f"//{host}:", "//127.0.0.1:", 1)
