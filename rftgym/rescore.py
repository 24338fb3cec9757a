"""Rescoring stored trajectories: recompute every reward with a (new or fixed) rubric, no model.

``rftgym rescore FILE --rubric module:attr --out NEW`` reads each episode, finds its task through
the env registry (``env_id`` and ``task_id``: the reference answer is not in the file), replays the
transcript through the rubric (:func:`~rftgym.rewards.replay.score_transcript`) and writes the
episode with new turn rewards and components, outcome, total and ``metadata["rescored"]``. The
messages, tokens and timings stay as they were. Group-scope terms (e.g. a judge ranking a group's
samples) are applied here, once each group is complete.

Terms that read the live env (``needs_env``: a database, a sandbox's test run) cannot be
recomputed from a file: their recorded values are kept, and :func:`kept_terms` names them so the
CLI says so before it starts.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

import gymnasium

from rftgym.envs.core import ChatEnv
from rftgym.envs.registry import chat_env, import_env_modules
from rftgym.rewards.replay import score_transcript
from rftgym.rewards.rubric import RewardContext, Rubric
from rftgym.trajectories import Trajectory, TrajectoryWriter, read_trajectories
from rftgym.types import Task


def load_rubric(spec: str) -> Rubric:
    """The rubric named by ``"module:attr"``: a :class:`Rubric`, an object with a ``rubric``
    attribute (an env class), or a function of no arguments returning a Rubric. Raises ValueError
    with a one-line reason when it cannot."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--rubric must look like 'module:attr', got {spec!r}")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load rubric {spec!r}: {e}") from None
    if isinstance(getattr(value, "rubric", None), Rubric):
        value = value.rubric
    elif callable(value) and not isinstance(value, Rubric):
        try:
            value = value()
        except TypeError as e:
            raise ValueError(f"cannot build the rubric by calling {spec!r}: {e}") from None
    if not isinstance(value, Rubric):
        raise ValueError(f"{spec!r} is a {type(value).__name__}, not a rftgym.rewards.Rubric")
    return value


def recorded_modules(traj: Trajectory) -> list[str]:
    """The modules that registered the episode's env, as the rollout recorded them."""
    modules = traj.metadata.get("env_modules")
    return [m for m in modules if isinstance(m, str)] if isinstance(modules, list) else []


class EnvTasks:
    """Finds an episode's task (and default rubric) through its env: one env instance per env id.
    A user's env is registered again by importing the modules its episodes recorded
    (``metadata["env_modules"]``)."""

    def __init__(self) -> None:
        import rftgym.envs  # noqa: F401  (registers the built-in envs)

        self._envs: dict[str, ChatEnv] = {}

    def env(self, env_id: str, modules: Sequence[str] = ()) -> ChatEnv:
        if env_id not in self._envs:
            if env_id not in gymnasium.registry:
                import_env_modules(modules)
            try:
                self._envs[env_id] = chat_env(gymnasium.make(env_id))
            except (gymnasium.error.Error, TypeError) as e:
                raise ValueError(f"cannot make env {env_id!r} to look up its tasks: {e}") from None
        return self._envs[env_id]

    def task(self, traj: Trajectory) -> Task:
        try:
            return self.env(traj.env_id, recorded_modules(traj)).task_by_id(traj.task_id)
        except KeyError as e:
            raise ValueError(f"episode {traj.id}: {e.args[0] if e.args else e}") from None

    def rubric(self, env_id: str, modules: Sequence[str] = ()) -> Rubric:
        rubric = getattr(self.env(env_id, modules), "rubric", None)
        if rubric is None:
            raise ValueError(f"env {env_id!r} has no rubric; pass --rubric module:attr")
        return rubric


def rescore(
    trajectories: Iterable[Trajectory],
    rubric: Rubric | None = None,
    *,
    tasks: Callable[[Trajectory], Task] | None = None,
    label: str = "",
    notice: Callable[[str], None] | None = None,
) -> Iterator[Trajectory]:
    """The episodes with every reward recomputed, in the same order.

    Args:
        trajectories: The stored episodes.
        rubric: The rubric to apply; None: each episode's env's own rubric.
        tasks: ``tasks(traj) -> Task``; default: looked up through the env registry.
        label: Recorded as ``metadata["rescored"]["rubric"]``.
        notice: Told, before the first episode of an env is rescored, which of its rubric's
            terms read the live env and so keep their recorded values.

    An episode that did not end (an error cut it short) gets no outcome, as when it was played.
    When the rubric has group terms, the episodes are held until the end and each group is scored
    together; otherwise they stream.
    """
    lookup = EnvTasks()
    find_task = tasks or lookup.task
    pending: list[tuple[Trajectory, Rubric, RewardContext | None]] = []
    announced: set[str] = set()
    for traj in trajectories:
        active = rubric or lookup.rubric(traj.env_id, recorded_modules(traj))
        if notice and active.env_terms() and traj.env_id not in announced:
            announced.add(traj.env_id)
            notice(f"{traj.env_id}: kept as recorded, they read the live env: {', '.join(active.env_terms())}")
        scored = score_transcript(
            active,
            find_task(traj),
            traj.messages,
            turn_indices=[t.message_index for t in traj.turns],
            tool_errors=[t.tool_errors for t in traj.turns],
            recorded=[t.reward_components for t in traj.turns],
            recorded_outcome=traj.outcome_components,
            outcome=traj.terminated or traj.truncated,
            trajectory=traj,
        )
        for turn, (reward, components) in zip(traj.turns, scored.turns):
            turn.reward, turn.reward_components = reward, components
        traj.outcome_reward, traj.outcome_components = scored.outcome or (0.0, {})
        traj.reward = scored.total
        traj.metadata = {**traj.metadata, "rescored": {"rubric": label or "env"}}
        if active.terms("group"):
            pending.append((traj, active, scored.outcome_context))
        else:
            yield traj
    yield from _score_groups(pending)


def _score_groups(pending: list[tuple[Trajectory, Rubric, RewardContext | None]]) -> Iterator[Trajectory]:
    """Apply the group terms to the held episodes (those with an outcome, grouped by env and group id)."""
    groups: dict[tuple[str, str], list] = {}
    for traj, rubric, ctx in pending:
        if ctx is not None:
            groups.setdefault((traj.env_id, traj.group_id), []).append((traj, rubric, ctx))
    for members in groups.values():
        members[0][1].add_group_scores([(ctx.task, traj) for traj, _, ctx in members])
    yield from (traj for traj, _, _ in pending)


def rescore_file(
    src: str | os.PathLike,
    out: str | os.PathLike,
    rubric: Rubric | None = None,
    *,
    label: str = "",
    notice: Callable[[str], None] | None = None,
) -> int:
    """Rescore every episode of ``src`` into a new file ``out`` (which must not exist); returns
    the count. ``label`` and ``notice`` are :func:`rescore`'s."""
    if os.path.exists(out):
        raise ValueError(f"{out} exists; rescore writes a new file")
    partial = f"{out}.partial"  # renamed once complete: a failed rescore leaves no half file at `out`
    if os.path.exists(partial):
        os.unlink(partial)  # left by a rescore that was killed
    count = 0
    try:
        with TrajectoryWriter(partial) as writer:
            for traj in rescore(read_trajectories(src), rubric, label=label, notice=notice):
                writer.write(traj)
                count += 1
    except BaseException:
        os.unlink(partial)
        raise
    os.replace(partial, out)
    return count
