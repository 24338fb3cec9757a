"""``rftgym/Letters-v0``: a trainer sanity check that even a tiny random-init model learns.

Each task asks for a reply in lowercase letters; the episode is one turn and its reward is the
share of lowercase ASCII letters in the reply, counted over at least 8 characters (so an empty or
very short reply cannot score 1). A random byte-level model starts near 0.1 and GRPO lifts it
within a few dozen steps on CPU, which makes a broken loss, mask or advantage show at once.
"""

from __future__ import annotations

import string

from rftgym.envs.core import ChatEnv
from rftgym.rewards.rubric import RewardTerm, Rubric
from rftgym.types import Message, Task, ToolResult


def lowercase_share(text: str) -> float:
    """Lowercase ASCII letters in ``text`` over ``max(len(text), 8)``."""
    return sum(c in string.ascii_lowercase for c in text) / max(len(text), 8)


#: One outcome term: the reply's share of lowercase letters.
RUBRIC = Rubric([RewardTerm("lowercase_share", lambda ctx: lowercase_share(ctx.response), scope="outcome")])

#: Test tasks; the train split has as many as asked for.
TEST_TASKS = 16


class LettersEnv(ChatEnv):
    """Reply in lowercase letters (one turn; reward: the share of lowercase letters)."""

    rubric = RUBRIC

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """``test``: 16 fixed tasks; ``train``: the first ``num_tasks`` (default 1000)."""
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; {type(self).__name__} has {list(self.splits)}")
        count = min(num_tasks or TEST_TASKS, TEST_TASKS) if split == "test" else num_tasks or 1000
        return [self._task(split, i) for i in range(count)]

    def task_by_id(self, task_id: str) -> Task:
        split, _, index = task_id.partition("-")
        if split not in self.splits or not index.isdigit():
            raise KeyError(f"{type(self).__name__} has no task {task_id!r}")
        return self._task(split, int(index))

    @staticmethod
    def _task(split: str, index: int) -> Task:
        return Task(
            id=f"{split}-{index:05d}",
            split=split,
            prompt=f"Task {index}: reply with a few words in lowercase letters only.",
        )

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        return [], "answered"

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        return {"role": "assistant", "content": "abcdefgh"}
