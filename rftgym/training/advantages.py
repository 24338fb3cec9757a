"""Advantage estimators: a group of episodes (the samples of one task) in, one advantage per
assistant turn of each episode out. The trainer broadcasts a turn's advantage to its tokens.

Add your own with :func:`register_advantage`; ``rftgym train --advantage NAME`` then finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rftgym.trajectories import Trajectory


@dataclass
class AdvantageOptions:
    """Settings every estimator receives.

    Attributes:
        gamma: Discount of later turns' rewards in per-turn returns (``turn``).
        normalize_std: Divide by the group's standard deviation after subtracting its mean.
        eps: Added to the standard deviation (of a group whose values differ: a group of equal
            values gives exactly 0, never NaN or a rounding artefact).
    """

    gamma: float = 1.0
    normalize_std: bool = True
    eps: float = 1e-6


#: ``estimator(group, options) -> per-episode lists of per-turn advantages``.
AdvantageFn = Callable[[list[Trajectory], AdvantageOptions], list[list[float]]]

ADVANTAGES: dict[str, AdvantageFn] = {}


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    """Decorator: make an estimator available under ``name``."""

    def add(fn: AdvantageFn) -> AdvantageFn:
        ADVANTAGES[name] = fn
        return fn

    return add


def _normalise(values: np.ndarray, options: AdvantageOptions) -> np.ndarray:
    """Subtract the mean (and divide by the population std). Equal values (a lone one included)
    get exactly 0: their mean can differ from them by a rounding error, which the division by a
    near-zero std would blow up into a spurious signal."""
    if not len(values) or values.max() == values.min():
        return np.zeros_like(values)
    centred = values - values.mean()
    return centred / (values.std() + options.eps) if options.normalize_std else centred


@register_advantage("grpo")
def grpo_advantages(group: list[Trajectory], options: AdvantageOptions) -> list[list[float]]:
    """GRPO: each episode's total reward, normalised within the group, for every one of its turns."""
    scores = _normalise(np.array([t.reward for t in group], dtype=np.float64), options)
    return [[float(score)] * t.num_turns for t, score in zip(group, scores)]


@register_advantage("turn")
def turn_advantages(group: list[Trajectory], options: AdvantageOptions) -> list[list[float]]:
    """Per-turn discounted returns (a turn's own reward plus ``gamma``-discounted later ones, the
    outcome reward counted at the last turn), normalised over all turns of the group."""
    returns = []
    for traj in group:
        rewards = [turn.reward for turn in traj.turns]
        if rewards:
            rewards[-1] += traj.outcome_reward
        running, episode = 0.0, []
        for reward in reversed(rewards):
            running = reward + options.gamma * running
            episode.append(running)
        returns.append(episode[::-1])
    flat = _normalise(np.array([r for episode in returns for r in episode], dtype=np.float64), options)
    out, start = [], 0
    for episode in returns:
        out.append([float(v) for v in flat[start : start + len(episode)]])
        start += len(episode)
    return out
