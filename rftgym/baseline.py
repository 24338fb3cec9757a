"""Step 0 of RFT, the readiness check: does the base model earn a reward on these prompts at all?

RFT only sharpens what a model can already sometimes do, and GRPO learns only from the reward's
spread within a group of samples of one prompt. :func:`baseline` plays a sample of the train split
``k`` times per task (through :func:`rftgym.rollout`) and :func:`assess` reads the episodes:

* ``pass@1``, ``pass@k`` (success: ``outcome_reward >= 1``) and the mean reward;
* ``never_rewarded``: the share of tasks none of whose samples earned an outcome reward above 0;
* ``zero_variance``: the share of groups whose total reward is the same in every sample (no
  learning signal for GRPO);
* each reward component's within-group spread (mean over groups of its standard deviation);
* the split's size against the guidance (100-10,000 prompts; 200-5,000 generalise best; start
  with 100-200).

The verdict, checked in this order: ``too hard`` (at least 80% of the tasks never earn a reward,
or most groups are flat at no reward), ``too easy`` (pass@1 at least 0.9, or most groups are flat
at success), ``dead reward component`` (a positively weighted component constant within every
group, or most groups flat at a partial reward), else ``ready``. Episodes that failed (endpoint or
env errors) are left out of every number and counted apart: they are never rewards.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium

from rftgym.agents.base import Policy, TaskPolicy
from rftgym.envs.registry import chat_env
from rftgym.rollout import Executor, rollout
from rftgym.trajectories import Trajectory, pass_at_k, read_trajectories, summarize

VERDICTS = ("ready", "too hard", "too easy", "dead reward component")
HARD_SHARE = 0.8  #: this share of tasks never rewarded (or of groups flat at 0) is too hard
EASY_PASS_AT_1 = 0.9  #: pass@1 from here on is too easy
FLAT_SHARE = 0.8  #: this share of groups with zero reward variance gives too little signal


@dataclass
class Readiness:
    """The readiness report of one baseline run (see the module docstring for each number)."""

    env_id: str
    k: int
    tasks: int
    episodes: int
    errors: int
    pass_at_1: float
    pass_at_k: float
    mean_reward: float
    never_rewarded: float
    zero_variance: float
    spread: dict[str, float | None] = field(default_factory=dict)
    dead: list[str] = field(default_factory=list)
    split_size: int | None = None
    size_note: str = ""
    verdict: str = "ready"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as text lines, the verdict last."""
        spread = ", ".join(f"{name} {_fmt(std)}" for name, std in self.spread.items()) or "no components"
        return [
            f"baseline of {self.env_id}: {self.tasks} tasks x {self.k} samples, "
            f"{self.episodes} episodes scored, {self.errors} failed (not counted)",
            f"  pass@1 {self.pass_at_1:.3f}   pass@{self.k} {self.pass_at_k:.3f}   mean reward {self.mean_reward:.3f}",
            f"  tasks that never earn a reward: {self.never_rewarded:.0%}",
            f"  groups with zero reward variance (no GRPO signal): {self.zero_variance:.0%}",
            f"  within-group spread: {spread}",
            f"  split size: {self.size_note}",
            f"verdict: {self.verdict.upper()}: {self.reason}",
        ]


def size_note(size: int | None) -> str:
    """The split's size against the guidance (100-10,000 prompts; 200-5,000 best; start with 100-200)."""
    if size is None:
        return "unknown"
    if size < 100:
        return f"{size} prompts: too few, the guidance asks for 100-10,000 (200-5,000 generalise best)"
    if size < 200:
        return f"{size} prompts: a good start (100-200); 200-5,000 generalise best"
    if size <= 5000:
        return f"{size} prompts: in the 200-5,000 range that generalises best"
    if size <= 10000:
        return f"{size} prompts: within 100-10,000, above the 200-5,000 that generalise best"
    return f"{size} prompts: more than the 10,000 the guidance suggests; train on a sample"


def assess(
    trajectories: Iterable[Trajectory],
    *,
    k: int,
    split_size: int | None = None,
    weights: dict[str, float] | None = None,
) -> Readiness:
    """The readiness report of a baseline's episodes (groups of ``k`` samples per task).

    Args:
        trajectories: The episodes.
        k: The samples per task (pass@k is reported for it, or the smallest group if less).
        split_size: The number of prompts in the split, for the size note.
        weights: The rubric's term weights by name; only components with a positive weight can be
            the dead one (a penalty that never fires is fine). None: every component can.

    Raises:
        ValueError: No episode was scored (every one failed).
    """
    played = list(trajectories)
    scored = [t for t in played if t.error is None]
    if not scored:
        first = next((t.error for t in played if t.error), None)
        raise ValueError(f"no episode was scored; the first failure: {first}")
    groups: defaultdict[str, list[Trajectory]] = defaultdict(list)
    for traj in scored:
        groups[traj.group_id].append(traj)
    smallest = min(len(g) for g in groups.values())
    wins = [[t.outcome_reward >= 1.0 for t in g] for g in groups.values()]
    flat = [g for g in groups.values() if len(g) > 1 and _pstd([t.reward for t in g]) < 1e-9]
    flat_zero = sum(all(t.outcome_reward <= 0 for t in g) for g in flat)
    flat_win = sum(all(t.outcome_reward >= 1.0 for t in g) for g in flat)
    summary = summarize(scored, ks=[1])
    spread = {name: block["within_group_std"] for name, block in summary["component_spread"].items()}
    dead = [name for name, std in spread.items() if std == 0.0 and _positive(name, weights)]
    report = Readiness(
        env_id=scored[0].env_id,
        k=min(k, smallest),
        tasks=len(groups),
        episodes=len(scored),
        errors=len(played) - len(scored),
        pass_at_1=_avg([sum(w) / len(w) for w in wins]),
        pass_at_k=_avg([pass_at_k(len(w), sum(w), min(k, smallest)) for w in wins]),
        mean_reward=_avg([t.reward for t in scored]),
        never_rewarded=_avg([float(all(t.outcome_reward <= 0 for t in g)) for g in groups.values()]),
        zero_variance=len(flat) / len(groups),
        spread=spread,
        dead=dead,
        split_size=split_size,
        size_note=size_note(split_size),
    )
    report.verdict, report.reason = _verdict(report, flat_zero / len(groups), flat_win / len(groups))
    return report


def _verdict(r: Readiness, flat_zero: float, flat_win: float) -> tuple[str, str]:
    if r.never_rewarded >= HARD_SHARE or flat_zero >= FLAT_SHARE:
        return "too hard", (
            f"{r.never_rewarded:.0%} of the tasks earned no reward in {r.k} tries (pass@{r.k} {r.pass_at_k:.2f}); "
            "RFT only sharpens what the model can sometimes do: easier tasks, a stronger base model, or SFT first"
        )
    if r.pass_at_1 >= EASY_PASS_AT_1 or flat_win >= FLAT_SHARE:
        return "too easy", (
            f"pass@1 is already {r.pass_at_1:.2f} and {r.zero_variance:.0%} of the groups have no reward "
            "variance: little left to learn; use harder tasks"
        )
    if r.dead:
        return "dead reward component", (
            f"{', '.join(r.dead)} never varies within a group, so it teaches nothing: fix the term or weigh it 0"
        )
    if r.zero_variance >= FLAT_SHARE:
        return "dead reward component", (
            f"the reward is the same in every sample of {r.zero_variance:.0%} of the groups: "
            "sample at a higher temperature or use a graded reward"
        )
    return "ready", (
        f"{1 - r.never_rewarded:.0%} of the tasks earn a reward (pass@{r.k} {r.pass_at_k:.2f}) and "
        f"{1 - r.zero_variance:.0%} of the groups vary"
    )


def _positive(component: str, weights: dict[str, float] | None) -> bool:
    """Whether a ``turn/<name>`` or ``outcome/<name>`` component comes from a positively weighted term."""
    name = component.partition("/")[2]
    if name.endswith(("/error", "/raw")):  # a term's metrics, not a reward channel
        return False
    return weights is None or weights.get(name, weights.get(name.partition("/")[0], 0.0)) > 0


def baseline(
    env_id: str,
    policy: Policy | TaskPolicy,
    out: str | Path,
    *,
    k: int = 8,
    num_tasks: int | None = 100,
    split: str = "train",
    env_kwargs: dict[str, Any] | None = None,
    concurrency: int = 8,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
) -> Readiness:
    """Play the first ``num_tasks`` tasks of ``split`` ``k`` times each with ``policy`` (where
    ``executor`` plays episodes, as for :func:`~rftgym.rollout.rollout`), write the episodes to
    ``out`` (refused if it exists, unless ``force``) and assess them.

    Raises:
        ValueError: Arguments out of range, ``out`` refused, or no episode scored.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    env = chat_env(gymnasium.make(env_id, **(env_kwargs or {})))
    try:
        split_size = len(env.tasks(split))
        weights = {term.name: term.weight for term in env.rubric.terms()}
    finally:
        env.close()
    result = rollout(
        env_id, policy, out, env_kwargs=env_kwargs, split=split, num_tasks=num_tasks, group_size=k,
        concurrency=concurrency, seed=seed, force=force, progress=progress, executor=executor,
    )  # fmt: skip
    played = set(result.episode_ids)
    episodes = (t for t in read_trajectories(out, latest_only=True) if t.id in played)
    return assess(episodes, k=k, split_size=split_size, weights=weights)


def _pstd(values: list[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def _avg(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
