"""The engine contract: what the online loop needs from whatever generates its samples.

An engine serves one set of weights at a time, numbered by ``version``: the trainer step that
produced them (0: the starting weights). Every assistant turn records the version it was sampled
with (``Turn.weights_version``), so the trainer knows how stale each episode is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rftgym.agents.base import Policy, TaskPolicy

T = TypeVar("T")


class EngineError(RuntimeError):
    """The engine cannot go on (a replica exited, a weight sync failed or served other weights).
    The message is one line that names the replica; the run's last checkpoint is intact."""


class Engine(Protocol):
    """What the online loop calls. Use it as a context manager: ``__exit__`` stops what it started."""

    #: The trainer step whose weights are served now (0: the starting weights).
    version: int

    def policy(self, temperature: float, max_tokens: int) -> Policy | TaskPolicy:
        """The policy the rollouts play: it samples from this engine and stamps every turn's
        ``weights_version``. No sampling ``seed`` is sent (a group's samples must differ)."""
        ...

    def sync(self, checkpoint: Path, version: int, weights: dict[str, Any] | None = None) -> None:
        """Serve the weights of ``checkpoint`` (an HF folder the trainer just wrote) as
        ``version``, without dropping requests in flight. ``weights``: the same weights in this
        process's memory, for an engine that can take them from there. Raises EngineError."""
        ...

    def served_logprobs(self, token_ids: list[int]) -> list[list[float]]:
        """Log-probability of each of ``token_ids[1:]`` given the tokens before it, at
        temperature 1, as each replica computes it: the check that a sync reached every replica."""
        ...

    def check_alive(self) -> None:
        """Raise EngineError (one line naming the replica) when the engine can no longer serve."""
        ...

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run the trainer's torch work ``fn(*args, **kwargs)`` where this engine wants it run:
        the built-in engine shares its one torch thread with the trainer (see
        ``ModelServer.run_on_worker``); engines in other processes run it right here."""
        ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...
