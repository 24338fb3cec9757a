"""Shared test helpers: an HTTP oracle responder that plays an env's reference solution."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import gymnasium
import pytest

import rftgym.envs  # noqa: F401  (registers the envs)


class OracleResponder:
    """A ScriptedServer responder that answers like the env's oracle would.

    It finds the task by the first user message, replays the request's assistant turns on a fresh
    env (the envs are deterministic) and returns ``oracle_action()``. ``wrong_every`` makes every
    n-th episode submit a wrong answer instead, so rewards vary within groups.
    """

    def __init__(self, env_id: str, split: str = "test", **env_kwargs):
        self.env_id, self.env_kwargs = env_id, env_kwargs
        env = gymnasium.make(env_id, **env_kwargs).unwrapped
        self.by_prompt = {t.prompt: t for t in env.tasks(split)}
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> dict:
        messages = request["messages"]
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        env = gymnasium.make(self.env_id, **self.env_kwargs).unwrapped
        env.reset(options={"task": self.by_prompt[prompt]})
        for m in messages:
            if m["role"] == "assistant":
                env.step({k: v for k, v in m.items() if k in ("role", "content", "tool_calls")})
        return env.oracle_action()


def read_lines(path: Path) -> list[dict]:
    """The parsed lines of a trajectory file (failing the test on a partial or bad line)."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the file ends in a partial line"
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def math_oracle() -> OracleResponder:
    return OracleResponder("rftgym/MathTools-v0")
