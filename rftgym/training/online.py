"""The online RFT loop: serve the current weights, collect a batch of groups, train, sync, repeat.

Each step ``N`` plays ``tasks_per_step`` train tasks (tasks ``N*tasks_per_step`` onwards, so a
resumed run plays the same ones) ``group_size`` times against the generation engine, writes them
to ``<output_dir>/rollouts/step-NNNNNN.jsonl``, takes one optimizer step on them, saves a
checkpoint and syncs the new weights into the engine (:mod:`rftgym.engines`): the built-in
endpoint in this process (``engine="builtin"``, weights copied from memory) or vLLM replicas
(``engine="vllm"``, weights reloaded from the checkpoint without a restart). After each sync the
engine's logprobs of a fixed probe sequence are compared with the trainer's
(``engine/sync_logprob_diff``); a difference over ``sync_tolerance`` stops the run. Every
``val_every`` steps (and before the first) it plays the test split once per task at temperature
0 and logs ``val-score/rewards/mean@1``. A run stopped at any point continues from its last
checkpoint with ``resume=True``.

**Off-policy** (``max_staleness`` K > 0): the rollouts of step N+1 play while step N trains.
Staleness is paced at admission, never by discarding: the rollouts of step S start only once the
trainer has taken step S-K, so no episode is more than K versions old when trained on, and every
episode played is trained on. (Dropping episodes that come back stale would leave out the slow
ones, i.e. the long, hard tasks, and bias training toward fast, easy ones.) Each episode's
staleness (the trainer's step minus the oldest weights version of its turns) is logged
(``rollout/staleness/mean``, ``/max``), and the loss corrects for it with truncated importance
sampling (``TrainConfig.importance_cap``, set to 2 unless given when K > 0 or the engine is vLLM).

**Infrastructure failures are never rewards**: an episode that ended with an error (the engine,
the env, a sandbox) is played again, at most ``MAX_FAILURE_REPLAYS`` times; a group that still
has a failed episode is dropped whole (its others are not trained on, so a failure never shrinks
a group's baseline). Both are counted: ``rollout/failed_episodes`` (errors first seen this step)
and ``rollout/dropped_groups``. A vLLM replica that has exited stops the run with one line naming
it; the last checkpoint and the step's rollout file are kept, and ``resume=True`` goes on.

Before the first step (not on resume) it runs Step 0, the readiness check of ``rftgym baseline``
(:mod:`rftgym.baseline`), on the first ``readiness_tasks`` train tasks, ``group_size`` samples
each, through the engine: the episodes go to ``<output_dir>/readiness.jsonl``, the report to
``<output_dir>/readiness.json``, and ``on_readiness`` gets it (and may raise to stop the run).

A step whose groups all scored evenly (every advantage 0) has no signal: the trainer refuses it,
and the loop plays the same tasks again into ``step-NNNNNN-retryK.jsonl``, at most
``MAX_NO_SIGNAL_RETRIES`` times before it stops with an error that says so.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium

from rftgym.agents import Policy, TaskPolicy
from rftgym.baseline import Readiness, baseline
from rftgym.engines import BuiltinEngine, Engine, EngineError, VLLMEngine
from rftgym.envs import chat_env
from rftgym.models.logprobs import token_logprobs
from rftgym.rollout import Executor, rollout
from rftgym.training.advantages import AdvantageOptions
from rftgym.training.data import TrainingBatch, trajectories_to_tensors
from rftgym.training.trainer import GRPOTrainer, TrainConfig
from rftgym.trajectories import read_trajectories

#: Fresh samples of a step's tasks the loop draws when a step has no signal, before it gives up.
MAX_NO_SIGNAL_RETRIES = 3

#: Times a step's failed episodes are played again before their groups are dropped.
MAX_FAILURE_REPLAYS = 2

#: The text whose token logprobs the engine and the trainer must agree on after a sync.
SYNC_PROBE = "<|im_start|>user\nrftgym weight sync probe: 0123456789 abcdefghij<|im_end|>\n"


@dataclass
class OnlineConfig:
    """What the online loop plays, and with which engine.

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
        engine: ``builtin`` (the transformers endpoint in this process) or ``vllm``.
        vllm_replicas: With ``vllm``: replicas to launch.
        vllm_urls: With ``vllm``: running replicas to use instead (see :class:`VLLMEngine`).
        vllm_args: With ``vllm``: further ``vllm serve`` arguments for launched replicas.
        vllm_python: With ``vllm``: the Python that has vLLM (default ``$RFTGYM_VLLM_PYTHON``).
        max_staleness: Versions an episode's weights may lag the trainer's (0: on-policy, each
            step's rollouts start after the previous step's sync; K: up to K steps ahead).
        sync_tolerance: Largest difference allowed between the engine's and the trainer's
            logprobs of :data:`SYNC_PROBE` after a sync (float32 on both sides agree to ~1e-5;
            raise it for a bf16 engine).
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
    engine: str = "builtin"
    vllm_replicas: int = 1
    vllm_urls: list[str] = field(default_factory=list)
    vllm_args: list[str] = field(default_factory=list)
    vllm_python: str | None = None
    max_staleness: int = 0
    sync_tolerance: float = 1e-3


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
    the distribution they were sampled from. Raises EngineError (one line) when the engine fails.
    """
    if online.engine not in ("builtin", "vllm"):
        raise ValueError(f"engine must be builtin or vllm, not {online.engine!r}")
    if online.engine == "vllm" and executor is not None:
        raise ValueError("the vllm engine plays rollouts in this process: it does not combine with a Ray executor yet")
    if online.max_staleness < 0:
        raise ValueError("max_staleness must be >= 0")
    config.temperature = online.temperature
    if not config.importance_cap and (online.max_staleness or online.engine == "vllm"):
        config.importance_cap = 2.0
    trainer = GRPOTrainer(config, resume=resume)
    start = trainer.checkpoint_dir / f"step-{trainer.step:06d}" if trainer.step else trainer.base_path
    env = chat_env(gymnasium.make(online.env_id, **online.env_kwargs))
    train_tasks = [t.id for t in env.tasks("train", online.steps * online.tasks_per_step)]
    env.close()
    rollouts = trainer.output_dir / "rollouts"
    if not resume:  # a fresh run must not pick up a former run's episodes
        shutil.rmtree(rollouts, ignore_errors=True)
    history = []
    probe = trainer.tokenizer(SYNC_PROBE, add_special_tokens=False)["input_ids"]
    connected = getattr(executor, "connected", contextlib.nullcontext)  # a cluster: joined once for every step
    # A resumed LoRA run trains new adapters on the merged checkpoint, which the replicas start from too.
    with connected(), _engine(online, str(start), trainer) as engine, ThreadPoolExecutor(1) as ahead:
        engine.version = trainer.step
        if online.vllm_urls:  # running replicas may serve anything: the trainer's weights first
            engine.sync(Path(start), trainer.step)
        policy = engine.policy(online.temperature, online.max_tokens)
        greedy = engine.policy(0.0, online.max_tokens)
        if online.readiness_tasks and not trainer.step:
            report = _readiness(online, policy, trainer.output_dir, config.seed, executor)
            if on_readiness is not None:
                on_readiness(report)

        def play(step: int, retries: int = 0) -> tuple[Path, dict[str, float]]:
            tasks = train_tasks[step * online.tasks_per_step : (step + 1) * online.tasks_per_step]
            name = f"step-{step:06d}-retry{retries}.jsonl" if retries else f"step-{step:06d}.jsonl"
            return _play_step(
                online, policy, rollouts / name, tasks, config.seed + step + 1000 * retries, executor, engine
            )

        pending: dict[int, Future[tuple[Path, dict[str, float]]]] = {}
        retries, extra = 0, {}  # extra: the step's validation and last sync, kept over its retries
        while trainer.step < online.steps:
            step = trainer.step
            if online.val_every and step % online.val_every == 0 and not retries:
                extra["val-score/rewards/mean@1"] = _validate(
                    online, greedy, rollouts / f"val-{step:06d}.jsonl", config.seed, executor
                )
            if retries or not online.max_staleness:  # on-policy: played here, after the last sync
                out, played = play(step, retries)
            else:  # admission: step S's rollouts start once the trainer has taken step S - max_staleness
                for ready in range(step, min(step + online.max_staleness, online.steps - 1) + 1):
                    pending.setdefault(ready, ahead.submit(play, ready))
                out, played = pending.pop(step).result()
            batch = trajectories_to_tensors(
                out, trainer.tokenizer, advantage=online.advantage, options=online.options, drop_incomplete_groups=True
            )
            if not len(batch):
                raise RuntimeError(f"step {step}: no episode of {out} can be trained on ({_why(out, batch)})")
            metrics = engine.call(
                trainer.train_step, batch, extra_metrics={**extra, **played, **_batch_metrics(batch, step)}
            )
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
            checkpoint = engine.call(trainer.save_checkpoint)
            extra = _sync(engine, trainer, checkpoint, probe, online.sync_tolerance)
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


def _engine(online: OnlineConfig, start: str, trainer: GRPOTrainer) -> Engine:
    """The engine ``online.engine`` names, serving ``start`` (not started yet: use ``with``)."""
    if online.engine == "vllm":
        return VLLMEngine(
            start,
            replicas=online.vllm_replicas,
            urls=online.vllm_urls,
            log_dir=trainer.output_dir / "logs",
            python=online.vllm_python,
            extra_args=online.vllm_args,
            lora_rank=trainer.config.lora_rank,
        )
    return BuiltinEngine(start, host=online.host, max_tokens=online.max_tokens, seed=trainer.config.seed + trainer.step)


def _play_step(
    online: OnlineConfig,
    policy: Policy | TaskPolicy,
    out: Path,
    task_ids: list[str],
    seed: int,
    executor: Executor | None,
    engine: Engine,
) -> tuple[Path, dict[str, float]]:
    """Play one step's groups into ``out``; failed episodes are played again (resuming ``out``),
    at most ``MAX_FAILURE_REPLAYS`` times. Returns ``out`` and the step's rollout metrics."""
    started = time.perf_counter()
    failed_first, replayed = 0, 0.0
    for attempt in range(MAX_FAILURE_REPLAYS + 1):
        played = rollout(
            online.env_id, policy, out, env_kwargs=online.env_kwargs, task_ids=task_ids,
            group_size=online.group_size, concurrency=online.concurrency, seed=seed, resume=True,
            progress=False, executor=executor,
        )  # fmt: skip
        if played.interrupted:  # Ctrl-C: a partial step is never trained on
            raise KeyboardInterrupt
        replayed += played.replayed
        failed = played.errors  # of the episodes this call played: all at first, then the replayed ones
        failed_first = failed_first if attempt else failed
        if not failed:
            break
        engine.check_alive()  # a replica that has gone: one clear line, not replays into the void
    metrics = {"rollout/failed_episodes": float(failed_first), "perf/rollout_s": time.perf_counter() - started}
    if executor is not None:
        metrics["rollout/replayed"] = replayed
    return out, metrics


def _batch_metrics(batch: TrainingBatch, step: int) -> dict[str, float]:
    """How many versions behind the trainer (at ``step``) each episode's oldest turn was sampled,
    and the groups dropped for failures."""
    lags = [step - e.weights_version for e in batch.episodes if e.weights_version is not None]
    metrics = {"rollout/dropped_groups": float(len(batch.dropped_groups))}
    if lags:
        metrics |= {"rollout/staleness/mean": sum(lags) / len(lags), "rollout/staleness/max": float(max(lags))}
    return metrics


def _sync(
    engine: Engine, trainer: GRPOTrainer, checkpoint: Path, probe: list[int], tolerance: float
) -> dict[str, float]:
    """Move the new weights into the engine and check that it serves the trainer's: the metrics
    of the sync (logged with the next step). Raises EngineError when a replica serves others."""
    started = time.perf_counter()
    # The checkpoint's weights are in memory here (a LoRA model's are merged only on disk).
    weights = None if trainer.config.lora_rank else trainer.model.state_dict()
    engine.sync(checkpoint, trainer.step, weights)
    synced = time.perf_counter() - started
    expected = engine.call(token_logprobs, trainer.model, probe)
    diff = max(max(abs(a - b) for a, b in zip(served, expected)) for served in engine.served_logprobs(probe))
    if diff > tolerance:
        raise EngineError(
            f"after step {trainer.step} the engine serves other weights than the trainer's: logprobs of the "
            f"sync probe differ by {diff:.2g} (> {tolerance:g}); the checkpoint {checkpoint} is complete"
        )
    return {"engine/sync_s": synced, "engine/sync_logprob_diff": diff}


def _readiness(
    online: OnlineConfig, policy: Policy | TaskPolicy, output_dir: Path, seed: int, executor: Executor | None
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


def _validate(
    online: OnlineConfig, policy: Policy | TaskPolicy, out: Path, seed: int, executor: Executor | None
) -> float:
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
