"""The checks any env must pass, whatever it does (``rftgym envs lint ENV_ID``).

* its task ids are unique within a split (the test split and the first ``num_train`` train tasks);
* Gymnasium's own ``check_env`` passes;
* where the env has an oracle (it overrides ``ChatEnv.oracle_action``), the oracle scores 1.0 on
  the first ``num_played`` test tasks, played through :func:`rftgym.rollout` like any policy;
* an agent that does nothing (:class:`~rftgym.agents.NoopPolicy`) scores at most 0 on them.

An env with a task linter of its own (a ``lint(num_train)`` method, as the customer-service envs
have) gets those checks on top: the CLI runs both.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium

from rftgym.agents import NoopPolicy, OraclePolicy
from rftgym.agents.base import Policy, TaskPolicy
from rftgym.envs.core import ChatEnv
from rftgym.envs.registry import chat_env
from rftgym.rollout import rollout
from rftgym.trajectories import read_trajectories
from rftgym.types import Task


def lint_env(
    env_id: str, *, num_train: int = 100, num_played: int = 3, env_kwargs: dict[str, Any] | None = None
) -> tuple[int, list[str]]:
    """Check ``env_id``: how many tasks were checked, and each problem as one line (empty: all good).

    Raises:
        TypeError: ``env_id`` is a Gymnasium env that is not a :class:`~rftgym.envs.ChatEnv`.
    """
    env_kwargs = dict(env_kwargs or {})
    env = gymnasium.make(env_id, **env_kwargs)
    try:
        inner = chat_env(env)
        splits = {"test": inner.tasks("test"), "train": inner.tasks("train", num_train) if num_train else []}
        problems = [problem for split, tasks in splits.items() for problem in _duplicate_ids(split, tasks)]
        problems += _check_env(inner)
    finally:
        env.close()
    problems += _played(env_id, inner, num_played, env_kwargs)
    return sum(map(len, splits.values())), problems


def _duplicate_ids(split: str, tasks: list[Task]) -> list[str]:
    counts = Counter(task.id for task in tasks)
    return [f"task id {task_id!r} is used {n} times in the {split} split" for task_id, n in counts.items() if n > 1]


def _check_env(env: ChatEnv) -> list[str]:
    from gymnasium.utils.env_checker import check_env

    try:
        check_env(env, skip_render_check=True)
    except Exception as e:  # any failure is the finding
        return [f"gymnasium's check_env fails: {type(e).__name__}: {' '.join(str(e).split())[:300]}"]
    return []


def _played(env_id: str, env: ChatEnv, num_played: int, env_kwargs: dict[str, Any]) -> list[str]:
    """Play the first test tasks with the oracle (where there is one) and the noop policy."""
    policies: dict[str, Policy | TaskPolicy] = {"noop": NoopPolicy()}
    if type(env).oracle_action is not ChatEnv.oracle_action:
        policies["oracle"] = OraclePolicy(env.oracle_action)
    problems = []
    with tempfile.TemporaryDirectory(prefix="rftgym-lint-") as folder:
        for name, policy in policies.items():
            out = Path(folder) / f"{name}.jsonl"
            rollout(env_id, policy, out, env_kwargs=env_kwargs, num_tasks=num_played, concurrency=1, progress=False)
            for traj in read_trajectories(out):
                if traj.error:
                    message = " ".join(str(traj.error.get("message")).split())[:200]
                    problems.append(f"{traj.task_id}: the {name} episode failed: {traj.error.get('type')}: {message}")
                elif name == "oracle" and not math.isclose(traj.reward, 1.0, abs_tol=1e-6):
                    problems.append(f"{traj.task_id}: the oracle scores {traj.reward:g}, not 1.0")
                elif name == "noop" and traj.reward > 1e-9:
                    problems.append(f"{traj.task_id}: doing nothing (the noop policy) scores {traj.reward:g}, not 0")
    return problems
