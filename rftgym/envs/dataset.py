"""``rftgym/Dataset-v0``: bring your own dataset, a Bedrock RFT JSONL file, as an env.

``gymnasium.make("rftgym/Dataset-v0", path="data.jsonl", reward="numeric")`` (on the command line
``--env-arg path=data.jsonl --env-arg reward=numeric``). Each line is one Bedrock RFT record, as
``rftgym export --format bedrock-rft`` writes them: ``messages`` (the opening: OpenAI chat messages
with at least one user message), ``reference_answer``, optional ``tools`` (OpenAI tool schemas),
``id``, ``split`` (``train``/``test``) and ``metadata``; other fields are kept in the metadata.
Without ``split`` every tenth record is a test task. Without ``path``, a 4-record sample.

The reward, ``reward=``:

* a named rubric: ``exact`` (the reply equals the reference, normalised), ``numeric``
  (GSM8K-style number matching) or ``json`` (the reply is JSON);
* ``pkg.module:attr`` naming a :class:`~rftgym.rewards.Rubric`, or a Bedrock reward-Lambda handler
  ``handler(event, context)`` (run in process through :func:`rftgym.rewards.lambda_term`, its
  ``aggregate_reward_score`` the outcome reward); in Python the object itself may be passed.

Episodes are single-turn: the reply ends the episode. When the record gives tools, the model may
call them; the calls are checked against the schemas and answered ``recorded`` (the file has no
implementation to run) and the episode goes on, up to ``max_turns``.

A malformed line (not JSON, not an object, no user message, no ``reference_answer``, bad tools) is
reported as ``file:line: why``: skipped with a warning (``on_error="skip"``, the default; the
list is kept in ``env.skipped``) or refused with ``ValueError`` (``on_error="refuse"``).
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from typing import Any

import jsonschema

from rftgym.envs.core import ChatEnv
from rftgym.envs.tools import Tool, Toolbox
from rftgym.rewards.bedrock import lambda_term
from rftgym.rewards.rubric import RewardTerm, Rubric
from rftgym.rewards.terms import exact_match, json_valid, numeric_match
from rftgym.types import Message, Task, ToolResult

NAMED = {"exact": exact_match(), "numeric": numeric_match(), "json": json_valid()}
SAMPLE = [
    {"id": f"sample-{i}", "split": split, "messages": [{"role": "user", "content": q}], "reference_answer": a}
    for i, (q, a, split) in enumerate(
        [("What is 7 * 6?", "42", "train"), ("What is 120 / 8?", "15", "train"),
         ("What is 2 ** 10?", "1024", "train"), ("What is 99 + 101?", "200", "test")]
    )
]  # fmt: skip
RECORDED = "recorded (the dataset's tools are not executed)"


def load_reward(reward: str | Rubric | Any) -> Rubric:
    """The rubric named by ``reward`` (see the module docstring)."""
    if isinstance(reward, str) and reward in NAMED:
        return Rubric([RewardTerm(reward, NAMED[reward], scope="outcome")])
    if isinstance(reward, str):
        module, _, attr = reward.partition(":")
        if not attr:
            raise ValueError(f"reward must be one of {', '.join(NAMED)} or 'pkg.module:attr', got {reward!r}")
        reward = getattr(importlib.import_module(module), attr)
    if isinstance(reward, Rubric):
        return reward
    if callable(reward):
        return Rubric([RewardTerm("lambda", lambda_term(reward), scope="outcome")])
    raise ValueError(f"reward {reward!r} is neither a Rubric nor a reward-Lambda handler")


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The well-formed records of a Bedrock RFT JSONL file, each with its ``line``, and one
    ``file:line: why`` per malformed line."""
    records, problems = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                why = _problem(record)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                why = f"not JSON ({e})"
            if why:
                problems.append(f"{path}:{number}: {why}")
            else:
                records.append({**record, "line": number})
    return records, problems


def _problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    messages = record.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        return '"messages" must be a list of chat messages with a "role"'
    if not any(m["role"] == "user" for m in messages):
        return '"messages" has no user message'
    if "reference_answer" not in record:
        return 'no "reference_answer"'
    tools = record.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "name" in t.get("function", {}) for t in tools):
        return '"tools" must be a list of OpenAI tool schemas ({"type": "function", "function": {"name": ...}})'
    return None


def _recorded(**arguments: Any) -> str:
    return RECORDED


class DatasetEnv(ChatEnv):
    """Bring your own dataset: a Bedrock RFT JSONL file, scored by a named rubric or a reward Lambda."""

    def __init__(
        self,
        path: str | None = None,
        reward: Any = "exact",
        on_error: str = "skip",
        max_turns: int = 1,
        render_mode: str | None = None,
    ):
        """Args:
        path: The JSONL file; None: a 4-record built-in sample.
        reward: A named rubric, ``pkg.module:attr`` or the object (see the module docstring).
        on_error: ``"skip"`` malformed lines with a warning, or ``"refuse"`` the file.
        max_turns: Assistant turns before the episode is truncated (tool calls continue it).
        """
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        if on_error not in ("skip", "refuse"):
            raise ValueError(f"on_error must be 'skip' or 'refuse', got {on_error!r}")
        self.rubric = load_reward(reward)
        records, self.skipped = read_records(path) if path else (SAMPLE, [])
        if self.skipped and on_error == "refuse":
            raise ValueError("malformed lines: " + "; ".join(self.skipped))
        if self.skipped:
            warnings.warn(f"skipped {len(self.skipped)} malformed lines: " + "; ".join(self.skipped[:5]), stacklevel=2)
        if not records:
            raise ValueError(f"{path} holds no usable record")
        self._tasks = [self._task(i, r) for i, r in enumerate(records)]
        self._by_id = {t.id: t for t in self._tasks}

    @staticmethod
    def _task(index: int, record: dict[str, Any]) -> Task:
        split = record.get("split") or (record.get("metadata") or {}).get("split")
        split = split if split in ("train", "test") else ("test" if index % 10 == 9 else "train")
        messages = record["messages"]
        prompt = next(m.get("content") for m in messages if m["role"] == "user")
        extra = {k: v for k, v in record.items() if k not in ("id", "messages", "reference_answer", "tools")}
        metadata = {**(record.get("metadata") or {}), **extra, "messages": messages, "tools": record.get("tools", [])}
        task_id = str(record.get("id") or f"line-{record.get('line', index + 1)}")
        return Task(task_id, split, str(prompt), record["reference_answer"], metadata=metadata)

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """The file's records of ``split`` in file order (the first ``num_tasks``)."""
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; {type(self).__name__} has {list(self.splits)}")
        return [t for t in self._tasks if t.split == split][:num_tasks]

    def task_by_id(self, task_id: str) -> Task:
        if task_id not in self._by_id:
            raise KeyError(f"{type(self).__name__} has no task {task_id!r}")
        return self._by_id[task_id]

    def setup(self, task: Task) -> None:
        """The episode opens with the record's own messages and offers its tools."""
        self.messages = json.loads(json.dumps(task.metadata["messages"]))
        schemas = task.metadata["tools"]
        self.toolbox = Toolbox(
            Tool(s["function"]["name"], _recorded, s, _validator(s), ()) for s in json.loads(json.dumps(schemas))
        )

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        return [], None if message.get("tool_calls") else "answered"

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """The reference answer as the reply."""
        answer = task.answer if isinstance(task.answer, str) else json.dumps(task.answer)
        return {"role": "assistant", "content": answer}


def _validator(schema: dict[str, Any]) -> Any:
    parameters = schema["function"].get("parameters") or {"type": "object"}
    return jsonschema.Draft202012Validator(parameters)
