"""Shared test helpers: an HTTP oracle responder that plays an env's reference solution."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import gymnasium
import pytest

import rftgym.envs  # noqa: F401  (registers the envs)
from rftgym.agents import OraclePolicy


class OracleResponder:
    """A ScriptedServer responder that answers like the env's oracle would.

    It finds the task by the first user message and returns the env's ``oracle_action`` for the
    request's conversation (a pure function of the task and the messages).
    """

    def __init__(self, env_id: str, split: str = "test", **env_kwargs):
        self.env = gymnasium.make(env_id, **env_kwargs).unwrapped
        self.by_prompt = {t.prompt: t for t in self.env.tasks(split)}

    def __call__(self, request: dict) -> dict:
        messages = request["messages"]
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        return self.env.oracle_action(self.by_prompt[prompt], messages)


def oracle_policy(env_id: str, **env_kwargs) -> OraclePolicy:
    """The oracle of ``env_id``, reading the reference solutions through an env of its own."""
    return OraclePolicy(gymnasium.make(env_id, **env_kwargs).unwrapped.oracle_action)


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a shell starts background
    jobs (``make test &``) with SIGINT ignored, and children inherit that; Ctrl-C must reach this one."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_lines(path: Path) -> list[dict]:
    """The parsed lines of a trajectory file (failing the test on a partial or bad line)."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the file ends in a partial line"
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def math_oracle() -> OracleResponder:
    return OracleResponder("rftgym/MathTools-v0")
