"""The built-in engine: ``rftgym serve``'s endpoint (:class:`~rftgym.serving.ModelServer`) in
this process, on a background thread; weights are copied into it from the trainer's memory."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rftgym.agents import ChatPolicy
from rftgym.models.logprobs import token_logprobs
from rftgym.serving import ModelServer

T = TypeVar("T")


class BuiltinEngine:
    """One :class:`ModelServer` that the trainer shares its torch thread with."""

    def __init__(self, model: str, *, host: str = "127.0.0.1", max_tokens: int = 256, seed: int | None = None):
        """Args:
        model: The weights to start from (``"tiny"``, an HF folder).
        host: Interface the endpoint listens on: ``127.0.0.1`` serves rollout workers on this
            machine; workers on other machines (Ray) need ``0.0.0.0`` and are given this
            machine's address.
        max_tokens: Token budget of a request that sets none.
        seed: Seeds the endpoint's sampling (see ``ModelServer``).
        """
        self.server = ModelServer(model, served_name="policy", host=host, default_max_tokens=max_tokens, seed=seed)
        self.host = host
        self.version = 0  # the online loop sets the trainer's step

    def __enter__(self) -> BuiltinEngine:
        self.server.start()
        self.url = _reachable(self.server.base_url, self.host)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def policy(self, temperature: float, max_tokens: int) -> ChatPolicy:
        """A chat client of the endpoint; the endpoint itself reports each answer's version."""
        return ChatPolicy(self.url, "policy", temperature=temperature, max_tokens=max_tokens)

    def sync(self, checkpoint: Path, version: int, weights: dict[str, Any] | None = None) -> None:
        """Copy the weights in (from ``weights`` when given, else read ``checkpoint``), between batches."""
        self.server.run_on_worker(self.server.load, checkpoint, weights)
        self.version = version

    def served_logprobs(self, token_ids: list[int]) -> list[list[float]]:
        return [self.server.run_on_worker(token_logprobs, self.server.generator.model, token_ids)]

    def check_alive(self) -> None:
        """The endpoint lives in this process: it is alive while this process is."""

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = self.server.run_on_worker(fn, *args, **kwargs)
        return result


def _reachable(base_url: str, host: str) -> str:
    """The endpoint's URL as rollout workers call it: an endpoint listening on every interface
    (``0.0.0.0``) is called at this machine's address, which other machines can reach."""
    if host not in ("0.0.0.0", "::", ""):
        return base_url
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.254.254.254", 1))  # no packet is sent: this picks the outgoing interface
        return base_url.replace(f"//{host}:", f"//{probe.getsockname()[0]}:", 1)
    return base_url.replace(f"//{host}:", "//127.0.0.1:", 1)
