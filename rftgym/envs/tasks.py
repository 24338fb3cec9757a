"""Tasks: the problems an env poses, with their reference answers and splits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Task:
    """One problem of an env.

    Attributes:
        id: Stable identifier, unique within the env (it names the episode group in trajectory files).
        split: ``"train"`` or ``"test"`` (envs may define more).
        prompt: What the first user message says.
        answer: The reference answer checked by the outcome reward (exported as ``reference_answer``).
        solution: What the ``oracle`` policy plays; its form is up to the env (e.g. a list of steps).
        metadata: Anything else (difficulty, source, persona...). Must be JSON-serialisable.
    """

    id: str
    split: str
    prompt: str
    answer: Any = None
    solution: Any = None
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Task:
        return cls(**data)
