"""A base for envs whose tasks are generated from their split and index (extraction, finance,
moderation): a fixed test split and a train split of as many tasks as asked for."""

from __future__ import annotations

from rftgym.envs.core import ChatEnv
from rftgym.types import Task


class GeneratedTasksEnv(ChatEnv):
    """Tasks ``<prefix>-<split>-<index:05d>`` made by :meth:`make_task`: ``test_tasks`` of them in
    ``test``, up to ``train_pool`` in ``train`` (the first 1000 by default)."""

    test_tasks = 100
    train_pool = 100_000

    def make_task(self, split: str, index: int) -> Task:
        """Task ``index`` of ``split``; a pure function of the two."""
        raise NotImplementedError

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """``test``: the ``test_tasks`` fixed tasks; ``train``: the first ``num_tasks`` (default 1000)."""
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; {type(self).__name__} has {list(self.splits)}")
        limit = self.test_tasks if split == "test" else self.train_pool
        return [self.make_task(split, i) for i in range(min(num_tasks or min(limit, 1000), limit))]

    def task_by_id(self, task_id: str) -> Task:
        _, split, index = (task_id.split("-") + ["", ""])[:3]
        limit = self.test_tasks if split == "test" else self.train_pool
        if split not in self.splits or not index.isdigit() or int(index) >= limit:
            raise KeyError(f"{type(self).__name__} has no task {task_id!r}")
        return self.make_task(split, int(index))
