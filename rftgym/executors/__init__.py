"""Where a rollout's episodes are played: :class:`~rftgym.rollout.LocalExecutor` (this process,
the default) or :class:`RayExecutor` (rollout-worker actors on a Ray cluster). Every executor
hands each finished episode back to the driver, which alone writes the trajectory file.

``import rftgym.executors`` does not import Ray; ``RayExecutor(...)`` says how to install it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rftgym._lazy import lazy_exports
from rftgym.rollout import EpisodePlayer, Executor, LocalExecutor

if TYPE_CHECKING:
    from rftgym.executors.ray import RayExecutor

__all__ = ["EpisodePlayer", "Executor", "LocalExecutor", "RayExecutor"]
__getattr__ = lazy_exports(__name__, {"RayExecutor": "ray", "RAY_MISSING": "ray"})
