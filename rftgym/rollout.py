"""The rollout loop: an env and a policy in, one trajectory line per episode out.

Every task of a split is played ``group_size`` times (a group: the samples GRPO and pass@k compare).
``concurrency`` workers each own one env and pull episodes from a shared queue; the policy call is
awaited on the event loop and ``env.step`` runs in a worker thread, so a slow step (Docker, a
simulated user's LLM call) never blocks the other episodes. An episode is written, whole and
flushed, the moment it ends; one that fails (endpoint down after retries, env exception, time
limit) is written with its error and the run goes on. ``resume=True`` skips the episodes a file
already holds with a result and plays again those whose last line records an error (the last line
of an id is its result, see :mod:`rftgym.trajectories.io`); Ctrl-C stops the run with every
finished episode kept. A run whose episodes keep failing with the same rejection (an HTTP 4xx that
asking again cannot change: a model name the endpoint does not know, a request field it refuses)
stops after :data:`SAME_REJECTIONS_TO_STOP` of them in a row, with the reason in
``RolloutResult.stopped``; the episodes not yet started are neither played nor written.

Group terms: when the env's rubric has ``scope="group"`` terms (e.g. an LLM judge ranking the
samples of a task against each other, :meth:`rftgym.rewards.LLMJudge.rank_group`), the driver holds
a group's finished episodes until every sample of the task in this run has finished, applies the
group terms to those that ended without an error (in a worker thread: a judge call never blocks
the loop), then writes the whole group. Without group terms nothing is held. A judge that fails is
recorded as ``<term>/error``, never as 0; a group term that breaks (an exception other than
``RewardTermError``) is recorded as the episodes' error. Episodes held when the run is interrupted
or stopped are not written: ``--resume`` plays their group again, whole.

The output file is never written by surprise: an existing non-empty ``out`` is refused without
``resume`` (``force=True`` overwrites it), a file that is not a trajectory file is never appended
to, and ``resume`` refuses a file whose episodes come from another env, model or sampling unless
``force=True``. These refusals, and arguments out of range, raise ``ValueError`` before anything
is written; the CLI prints the same words.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import gymnasium
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rftgym._compat import within
from rftgym.agents.base import ContextLengthExceeded, Policy, PolicyError, TaskPolicy
from rftgym.envs.registry import chat_env
from rftgym.envs.registry import env_modules as registered_env_modules
from rftgym.trajectories import (
    Trajectory,
    TrajectoryWriter,
    Turn,
    completed_ids,
    is_trajectory_file,
    read_trajectories,
)
from rftgym.trajectories.schema import SCHEMA
from rftgym.types import ResetInfo, StepRecord, Task

T = TypeVar("T")

#: Episodes in a row failed by the same rejection (a non-retryable HTTP 4xx, same message, no
#: success in between) that stop a run. A flaky endpoint (429, 5xx, drops) never counts.
SAME_REJECTIONS_TO_STOP = 8


@dataclass
class RolloutResult:
    """What a rollout did. ``interrupted`` is True when Ctrl-C (or cancellation) stopped it early."""

    out: Path
    run_id: str
    written: int = 0
    skipped: int = 0
    errors: int = 0
    reward_sum: float = 0.0
    interrupted: bool = False
    pending: int = 0
    episode_ids: list[str] = field(default_factory=list)  # the episodes this run wrote, in order
    first_error: str | None = None  # "Type: message" of the first episode that failed
    stopped: str | None = None  # why the run stopped before its last episode (the same rejection, again and again)
    replayed: int = 0  # episodes played again because their worker or node was lost (a cluster executor)

    @property
    def mean_reward(self) -> float:
        return self.reward_sum / self.written if self.written else 0.0


@dataclass
class Episode:
    """One episode to play: a task, its sample index in the group and its reset seed."""

    task: Task
    sample_index: int
    seed: int
    id: str = field(init=False)
    rejection: str | None = field(default=None, init=False)  # set by _play: the 4xx answer that failed it

    def __post_init__(self) -> None:
        self.id = f"{self.task.id}#{self.sample_index}"


@dataclass
class EpisodePlayer:
    """Everything a worker needs to play episodes of one run, wherever it runs (this process, a
    Ray actor): it is picklable when the policy and ``make_env`` are."""

    env_id: str
    policy: Policy | TaskPolicy
    make_env: Callable[[], gymnasium.Env]
    run_id: str
    meta: dict[str, Any]  # written into every line's metadata (split, env_kwargs, seed, env_modules)
    episode_timeout: float
    turn_timeout: float

    async def play(
        self, env: gymnasium.Env, episode: Episode, threads: concurrent.futures.Executor
    ) -> tuple[Trajectory, bool]:
        """Play ``episode`` on ``env`` (its steps in ``threads``); never raises but cancellation.
        Returns the trajectory and whether ``env`` may be reused (False after an abandoned step)."""
        return await _play(
            env, self.policy, episode, self.env_id, self.run_id, self.meta, threads,
            self.episode_timeout, self.turn_timeout,
        )  # fmt: skip

    def failed(self, episode: Episode, error_type: str, message: str) -> Trajectory:
        """The line of an episode that could not be played at all (its worker kept being lost):
        an infrastructure error, which ``resume`` plays again, never a reward."""
        traj = _new_trajectory(episode, self.policy, self.env_id, self.run_id, self.meta)
        traj.termination_reason, traj.error = "error", {"type": error_type, "message": message}
        return traj


#: The driver's hand-off for each finished episode: it writes the line, counts it, moves the bar.
Finish = Callable[[Episode, Trajectory], None]


class Executor(Protocol):
    """Where episodes are played (:class:`LocalExecutor`, ``rftgym.executors.RayExecutor``).

    ``run`` pops episodes from ``queue`` (the last one first; the driver may empty it to stop the
    run), plays at most ``concurrency`` at a time with ``player`` and hands each one to ``finish``
    exactly once, in this process: only the driver writes the trajectory file.
    """

    async def run(
        self, queue: list[Episode], player: EpisodePlayer, finish: Finish, concurrency: int, result: RolloutResult
    ) -> None: ...


class LocalExecutor:
    """Plays episodes in this process: ``concurrency`` asyncio workers, each owning one env, with
    env steps in worker threads."""

    async def run(
        self, queue: list[Episode], player: EpisodePlayer, finish: Finish, concurrency: int, result: RolloutResult
    ) -> None:
        threads = concurrent.futures.ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="rftgym-env")

        async def worker() -> None:
            env = None
            while queue:
                episode = queue.pop()
                env = env or player.make_env()
                traj, env_ok = await player.play(env, episode, threads)
                if not env_ok:  # a step was abandoned mid-way: never reuse that env
                    env = None
                finish(episode, traj)
            if env is not None:
                env.close()

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(queue))))))
        finally:
            threads.shutdown(wait=False, cancel_futures=True)


def _run(coroutine: Any) -> Any:
    """``asyncio.run`` on uvloop where it is installed: with its event loop, handing env steps to
    worker threads costs a fraction of what it costs on the standard loop (bench/rollout_overhead.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


class EpisodeTimeout(Exception):
    """A per-turn or per-episode time limit ran out."""


def rollout(
    env_id: str,
    policy: Policy | TaskPolicy,
    out: str | Path,
    *,
    env_kwargs: dict[str, Any] | None = None,
    split: str = "test",
    num_tasks: int | None = None,
    task_ids: Sequence[str] | None = None,
    group_size: int = 1,
    concurrency: int = 8,
    seed: int = 0,
    resume: bool = False,
    force: bool = False,
    episode_timeout: float = 1800.0,
    turn_timeout: float = 600.0,
    progress: bool = True,
    run_id: str | None = None,
    make_env: Callable[[], gymnasium.Env] | None = None,
    env_modules: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> RolloutResult:
    """Run :func:`arollout` to completion in a new event loop (the arguments are its own).
    Ctrl-C returns what finished, with ``interrupted`` set.

    Raises:
        RuntimeError: Called inside a running event loop (a notebook, an async function): there,
            ``await rftgym.arollout(...)`` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # none running: the normal case
        pass
    else:
        raise RuntimeError(
            "rftgym.rollout() cannot run inside a running event loop (a notebook, an async function); "
            "use `await rftgym.arollout(...)` there, with the same arguments"
        )
    result = RolloutResult(Path(out), run_id or uuid.uuid4().hex[:12])
    run = arollout(
        env_id, policy, out, env_kwargs=env_kwargs, split=split, num_tasks=num_tasks, task_ids=task_ids,
        group_size=group_size, concurrency=concurrency, seed=seed, resume=resume, force=force,
        episode_timeout=episode_timeout, turn_timeout=turn_timeout, progress=progress, result=result,
        make_env=make_env, env_modules=env_modules, executor=executor,
    )  # fmt: skip
    try:
        _run(run)
    except KeyboardInterrupt:
        result.interrupted = True
    return result


async def arollout(
    env_id: str,
    policy: Policy | TaskPolicy,
    out: str | Path,
    *,
    env_kwargs: dict[str, Any] | None = None,
    split: str = "test",
    num_tasks: int | None = None,
    task_ids: Sequence[str] | None = None,
    group_size: int = 1,
    concurrency: int = 8,
    seed: int = 0,
    resume: bool = False,
    force: bool = False,
    episode_timeout: float = 1800.0,
    turn_timeout: float = 600.0,
    progress: bool = True,
    result: RolloutResult | None = None,
    make_env: Callable[[], gymnasium.Env] | None = None,
    env_modules: Sequence[str] | None = None,
    executor: Executor | None = None,
) -> RolloutResult:
    """Play every task of ``split`` ``group_size`` times with ``policy`` and append the episodes to ``out``.

    Args:
        env_id: Gymnasium id of the env (``rftgym/MathTools-v0``).
        policy: Produces assistant turns (:class:`~rftgym.agents.ChatPolicy`...); a
            :class:`~rftgym.agents.TaskPolicy` (the oracle) gives each episode its own.
        out: The trajectory file (JSONL); appended to, created if missing.
        env_kwargs: Keyword arguments for ``gymnasium.make`` (e.g. ``{"max_turns": 4}``).
        split: Which task split to play.
        num_tasks: Play the first ``num_tasks`` tasks of the split (all when None).
        task_ids: Play exactly these tasks instead.
        group_size: Episodes per task (the samples of one group).
        concurrency: Episodes played at the same time.
        seed: Base of the per-episode reset seeds (each episode's seed also depends on its id).
        resume: Skip the episodes ``out`` already holds with no error, play again those whose
            last line records one (and repair a line cut by a crash).
        force: Without ``resume``: overwrite an existing ``out``. With ``resume``: continue a file
            whose episodes come from another env, model or sampling. Never appends to a file that
            is not a trajectory file.
        episode_timeout: Seconds one episode may take in all before it is cut off.
        turn_timeout: Seconds one turn (policy call plus env step) may take.
        progress: Show a progress bar on stderr with live mean reward and error count.
        result: Fill this result object in place (so a caller still has it after Ctrl-C); its
            ``run_id`` names the run.
        make_env: Build envs with this instead of ``gymnasium.make(env_id, **env_kwargs)``.
        env_modules: The modules that register ``env_id`` (a user's env), recorded in every line
            as ``metadata["env_modules"]`` so that ``rescore`` and ``--resume`` import them again.
            Default: the module of the env's entry point, unless it is rftgym's own.
        executor: Where the episodes are played: :class:`LocalExecutor` (the default, this
            process) or ``rftgym.executors.RayExecutor`` (actors on a Ray cluster). This process
            writes ``out`` either way.

    Raises:
        ValueError: An argument out of range, or ``out`` refused (see the module docstring).
    """
    check_rollout_args(
        num_tasks=num_tasks, group_size=group_size, concurrency=concurrency,
        episode_timeout=episode_timeout, turn_timeout=turn_timeout,
    )  # fmt: skip
    out = Path(out)
    check_out(out, env_id, policy.describe(), resume=resume, force=force)
    env_kwargs = dict(env_kwargs or {})
    make_env = make_env or functools.partial(gymnasium.make, env_id, **env_kwargs)
    result = result or RolloutResult(out, uuid.uuid4().hex[:12])
    done = completed_ids(out) if resume else set()
    if resume and done:
        result.run_id = next(read_trajectories(out, errors="skip")).run_id
    probe = make_env()
    try:
        env = chat_env(probe)
        tasks = [env.task_by_id(t) for t in task_ids] if task_ids else env.tasks(split, num_tasks)
        rubric = getattr(env, "rubric", None)
    finally:
        probe.close()
    episodes = [Episode(task, i, _episode_seed(seed, f"{task.id}#{i}")) for task in tasks for i in range(group_size)]
    result.skipped = sum(e.id in done for e in episodes)
    queue = [e for e in episodes if e.id not in done]
    result.pending = len(queue)
    queue.reverse()  # pop() from the end, in task order
    if force and not resume and out.exists():
        out.write_bytes(b"")  # overwrite: checked above, and only now that the tasks are known

    meta: dict[str, Any] = {"split": split, "env_kwargs": env_kwargs, "seed": seed}
    modules = list(env_modules) if env_modules is not None else registered_env_modules(env_id)
    if modules:
        meta["env_modules"] = modules
    player = EpisodePlayer(env_id, policy, make_env, result.run_id, meta, episode_timeout, turn_timeout)
    rejections = _Rejections()
    groups = _Groups(rubric, queue)
    scoring: set[asyncio.Task[None]] = set()  # groups being scored by their group terms
    with TrajectoryWriter(out, resume=resume) as writer, _progress(progress, len(queue)) as bar:

        def write(episode: Episode, traj: Trajectory) -> None:
            """The one place a finished episode is written, counted and shown, whatever played it."""
            _write(writer, traj)
            _count(result, traj)
            bar(result)
            if result.stopped is None and (reason := rejections.stop_reason(episode, traj)):
                result.stopped = reason
                queue.clear()  # the episodes in flight finish and are written; no new one starts

        async def score_and_write(group: list[tuple[Episode, Trajectory]]) -> None:
            await asyncio.get_running_loop().run_in_executor(None, groups.score, group)
            for member in group:
                write(*member)

        def finish(episode: Episode, traj: Trajectory) -> None:
            """Write the episode, or hold it until its group is complete and scored (group terms)."""
            group = groups.add(episode, traj)
            if groups.rubric is None:
                write(episode, traj)
            elif group is not None:
                scoring.add(asyncio.ensure_future(score_and_write(group)))

        try:
            await (executor or LocalExecutor()).run(queue, player, finish, concurrency, result)
            await asyncio.gather(*scoring)
        except asyncio.CancelledError:
            result.interrupted = True
            for task in scoring:
                task.cancel()
            raise
    return result


class _Groups:
    """Holds a group's finished episodes until every sample of its task in this run has finished,
    when the rubric has group terms (``rubric`` is None otherwise, and nothing is held)."""

    def __init__(self, rubric: Any, episodes: Sequence[Episode]) -> None:
        self.rubric: Any = rubric if rubric is not None and rubric.terms("group") else None
        self.size = Counter(e.task.id for e in episodes)
        self.held: dict[str, list[tuple[Episode, Trajectory]]] = {}

    def add(self, episode: Episode, traj: Trajectory) -> list[tuple[Episode, Trajectory]] | None:
        """The episode's group once it is complete (then no longer held), else None."""
        if self.rubric is None:
            return None
        group = self.held.setdefault(episode.task.id, [])
        group.append((episode, traj))
        if len(group) < self.size[episode.task.id]:
            return None
        del self.held[episode.task.id]
        return sorted(group, key=lambda member: member[0].sample_index)

    def score(self, group: list[tuple[Episode, Trajectory]]) -> None:
        """Apply the group terms to the members that ended without an error, in place."""
        ended = [(e.task, t) for e, t in group if t.error is None and (t.terminated or t.truncated)]
        try:
            self.rubric.add_group_scores(ended)
        except Exception as e:  # a broken group term: the episodes' error (played again by resume), never a reward
            for _, traj in ended:
                traj.termination_reason = "error"
                traj.error = {"type": "GroupScoringError", "message": f"{type(e).__name__}: {e}"}


def check_rollout_args(
    *,
    num_tasks: int | None = None,
    group_size: int = 1,
    concurrency: int = 1,
    episode_timeout: float = 1.0,
    turn_timeout: float = 1.0,
    timeout: float | None = None,
) -> None:
    """Raise ``ValueError`` naming the first argument out of range (the CLI prints the same words,
    with its flag names)."""
    for name, value in (("num_tasks", num_tasks), ("group_size", group_size), ("concurrency", concurrency)):
        if value is not None and not value >= 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    for name, seconds in (("episode_timeout", episode_timeout), ("turn_timeout", turn_timeout), ("timeout", timeout)):
        if seconds is not None and not seconds > 0:
            raise ValueError(f"{name} must be more than 0 seconds, got {seconds}")


def check_out(out: Path, env_id: str, policy: dict[str, Any], *, resume: bool, force: bool) -> None:
    """Refuse, with ``ValueError``, an ``out`` the run would write by surprise: an existing
    non-empty file without ``resume`` or ``force``; a file that is not a trajectory file with
    ``resume``; with ``resume``, a file of another env, model or sampling, unless ``force``."""
    if out.is_dir():
        raise ValueError(f"{out} is a folder, not a trajectory file")
    if not out.exists() or out.stat().st_size == 0:
        return
    if not resume:
        if force:
            return
        raise ValueError(f"{out} already exists and is not empty; --resume continues it, --force overwrites it")
    if not is_trajectory_file(out):
        raise ValueError(
            f'{out} is not a trajectory file (its first line is not a JSON object with "schema": '
            f'"{SCHEMA}"); refusing to append to it'
        )
    if force:
        return
    now = _run_key(env_id, policy)
    for traj in read_trajectories(out, errors="skip"):
        before = _run_key(traj.env_id, traj.policy)
        for what, old, new in zip(("env", "model", "sampling"), before, now, strict=True):
            if old != new:
                raise ValueError(
                    f"{out} holds episodes of another {what} ({old}, not {new}); use another --out, "
                    "or --force to continue it anyway"
                )


def _run_key(env_id: str, policy: dict[str, Any]) -> tuple[str, str, str]:
    """The env, the model and the sampling of a run, as comparable text."""
    model = policy.get("model") or policy.get("name") or "?"
    sampling = ", ".join(f"{k}={v}" for k, v in sorted((policy.get("sampling") or {}).items())) or "none"
    return env_id, str(model), sampling


async def _play(
    env: gymnasium.Env,
    policy: Policy | TaskPolicy,
    episode: Episode,
    env_id: str,
    run_id: str,
    meta: dict[str, Any],
    executor: concurrent.futures.Executor,
    episode_timeout: float,
    turn_timeout: float,
) -> tuple[Trajectory, bool]:
    """Play one episode; never raises (except cancellation). Returns the trajectory and whether
    the env is still in a known state (False after a step was abandoned by a time limit)."""
    loop = asyncio.get_running_loop()
    player = policy.for_task(episode.task) if isinstance(policy, TaskPolicy) else policy
    traj = _new_trajectory(episode, policy, env_id, run_id, meta)
    started, deadline = time.time(), time.monotonic() + episode_timeout
    env_ok = True

    def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        return loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))

    async def limited(awaitable: Any, what: str) -> Any:
        budget = min(turn_timeout, deadline - time.monotonic())
        try:
            return await within(awaitable, max(budget, 0.0))
        except asyncio.TimeoutError:
            limit = "turn" if budget >= turn_timeout else "episode"
            raise EpisodeTimeout(
                f"{limit} time limit ({turn_timeout if limit == 'turn' else episode_timeout:g}s) ran out during {what}"
            ) from None

    try:
        messages, info = await limited(in_thread(env.reset, seed=episode.seed, options={"task": episode.task}), "reset")
        traj.messages, traj.tools = messages, ResetInfo.from_info(info).tools
        while True:
            t0 = time.perf_counter()
            reply = await limited(player.act(traj.messages, traj.tools), "the policy call")
            t1 = time.perf_counter()
            traj.messages.append(reply.message)
            turn = Turn(
                message_index=len(traj.messages) - 1,
                finish_reason=reply.finish_reason,
                prompt_token_ids=reply.prompt_token_ids,
                completion_token_ids=reply.completion_token_ids,
                logprobs=reply.logprobs,
                usage=reply.usage,
                weights_version=reply.weights_version,
                policy_latency_s=t1 - t0,
            )
            traj.turns.append(turn)
            if reply.weights_version is not None:
                traj.policy["weights_version"] = reply.weights_version
            env_ok = False
            obs, _, terminated, truncated, info = await limited(in_thread(env.step, reply.message), "env.step")
            env_ok = True
            turn.env_latency_s = time.perf_counter() - t1
            traj.messages.extend(obs)
            _record_step(traj, turn, StepRecord.from_info(info), terminated, truncated)
            if terminated or truncated:
                break
    except asyncio.CancelledError:
        raise
    except EpisodeTimeout as e:
        traj.truncated, traj.termination_reason = True, "time_limit"
        traj.error = {"type": "EpisodeTimeout", "message": str(e)}
    except ContextLengthExceeded:  # the model's context is full: a truncation (the model's doing), no outcome
        traj.truncated, traj.termination_reason = True, "context_length"
    except Exception as e:  # an endpoint or env failure is recorded, never fatal to the run
        traj.termination_reason = "error"
        traj.error = {"type": type(e).__name__, "message": str(e) or repr(e)}
        if isinstance(e, PolicyError) and e.status is not None:
            episode.rejection = traj.error["message"]
    traj.reward = sum(t.reward for t in traj.turns) + traj.outcome_reward
    traj.timings = {
        "started_at": started,
        "duration_s": time.time() - started,
        "policy_s": sum(t.policy_latency_s for t in traj.turns),
        "env_s": sum(t.env_latency_s for t in traj.turns),
    }
    return traj, env_ok


def _new_trajectory(
    episode: Episode, policy: Policy | TaskPolicy, env_id: str, run_id: str, meta: dict[str, Any]
) -> Trajectory:
    """An episode's trajectory before its first turn: who, what and which seed."""
    return Trajectory(
        id=episode.id,
        run_id=run_id,
        env_id=env_id,
        task_id=episode.task.id,
        group_id=episode.task.id,
        sample_index=episode.sample_index,
        policy=policy.describe(),
        metadata={**meta, "episode_seed": episode.seed},
    )


def _write(writer: TrajectoryWriter, traj: Trajectory) -> None:
    """Write the episode; if a value cannot be written (a NaN reward from an env, an object that
    is not JSON), write it with its turns' data dropped and the reason as its error."""
    try:
        writer.write(traj)
    except ValueError as e:
        traj.error = {"type": "UnwritableTrajectory", "message": str(e)}
        traj.turns, traj.outcome_components = [], {}
        traj.reward = traj.outcome_reward = 0.0
        writer.write(traj)


def _record_step(traj: Trajectory, turn: Turn, step: StepRecord, terminated: bool, truncated: bool) -> None:
    """Fold one env step's record into the trajectory: the turn's own reward and components, and
    on the final step the outcome (kept apart from the turn: ``Trajectory.reward`` sums both)."""
    turn.reward, turn.reward_components = step.reward, step.reward_components
    turn.tool_calls, turn.tool_errors = step.tool_calls, step.tool_errors
    if terminated or truncated:
        traj.terminated, traj.truncated = bool(terminated), bool(truncated)
        outcome = step.outcome
        traj.termination_reason = (
            outcome.termination_reason if outcome else ("terminated" if terminated else "truncated")
        )
        traj.outcome_reward = outcome.reward if outcome else 0.0
        traj.outcome_components = outcome.components if outcome else {}


class _Rejections:
    """Counts the episodes in a row that the same rejection failed; any other result resets it."""

    def __init__(self) -> None:
        self.last: str | None = None
        self.count = 0

    def stop_reason(self, episode: Episode, traj: Trajectory) -> str | None:
        """Why the run should stop now, or None."""
        same = episode.rejection is not None and episode.rejection == self.last
        self.count = self.count + 1 if same else int(episode.rejection is not None)
        self.last = episode.rejection
        if self.count < SAME_REJECTIONS_TO_STOP:
            return None
        return (
            f"stopped after {self.count} episodes in a row failed with the same answer, which asking "
            f"again cannot change: {(traj.error or {}).get('type')}: {episode.rejection}"
        )


def _episode_seed(seed: int, episode_id: str) -> int:
    """A reset seed that depends only on the run seed and the episode (stable across resumes)."""
    return (seed * 1_000_003 + zlib.crc32(episode_id.encode())) % (2**31)


def _count(result: RolloutResult, traj: Trajectory) -> None:
    result.written += 1
    result.pending -= 1
    result.reward_sum += traj.reward
    result.errors += traj.error is not None
    result.episode_ids.append(traj.id)
    if traj.error is not None and result.first_error is None:
        result.first_error = f"{traj.error.get('type', 'Error')}: {traj.error.get('message', '')}"


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[RolloutResult], None]]:
    """The rollout's progress bar: episodes done, the live mean reward and the error count."""
    fields = "reward {task.fields[reward]:.3f}  errors {task.fields[errors]}"
    with progress_bar(enabled, "rollout", total, fields, reward=0.0, errors=0) as update:
        yield lambda r: update(r.written, reward=r.mean_reward, errors=r.errors)


@contextlib.contextmanager
def progress_bar(
    enabled: bool, title: str, total: int, fields: str, *, completed: int = 0, console: Any = None, **start: Any
) -> Iterator[Callable[..., None]]:
    """A rich progress bar of ``total`` items: done/total, time elapsed, ETA, then ``fields``, a
    format string over the live values (``"reward {task.fields[reward]:.3f}"``) whose first values
    are ``start``. Yields ``update(completed, **values)``; with ``enabled`` false, a no-op."""
    if not enabled:
        yield lambda completed, **values: None
        return
    columns = (
        TextColumn(f"[bold]{title}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn(fields),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(title, total=total, completed=completed, **start)
        yield lambda done, **values: bar.update(task, completed=done, **values)
