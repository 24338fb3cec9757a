"""Datasets for hosted fine-tuning services, from task splits or trajectory files.

* ``bedrock-rft`` (Amazon Bedrock / Nova reinforcement fine-tuning): one JSON line per prompt,
  ``{"id", "messages", "reference_answer", "tools"?, "metadata"?}``: the opening messages (system
  prompt, first user message), the task's reference answer, the env's tool schemas. Bedrock takes
  100 to 20,000 records: more is an error (cap with ``limit``), fewer a warning.
* ``openai-sft`` (OpenAI-format chat fine-tuning): the successful episodes (no error, total reward
  at or above a threshold) as ``{"messages", "tools"?}``, messages cut to the standard keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, get_args

from rftgym.trajectories import Trajectory
from rftgym.types import Message, Task, ToolSchema

if TYPE_CHECKING:
    from rftgym.envs.core import ChatEnv

#: Bedrock RFT's documented dataset size limits (records).
BEDROCK_MIN_RECORDS, BEDROCK_MAX_RECORDS = 100, 20_000
#: The message keys OpenAI chat fine-tuning accepts.
_SftKey = Literal["role", "content", "tool_calls", "tool_call_id", "name"]
_MESSAGE_KEYS: tuple[_SftKey, ...] = get_args(_SftKey)


def bedrock_record(task: Task, opening: list[Message], tools: list[ToolSchema]) -> dict[str, Any]:
    """One Bedrock RFT record: a task's opening messages, its reference answer and the tools."""
    record: dict[str, Any] = {"id": task.id, "messages": opening, "reference_answer": task.answer}
    if tools:
        record["tools"] = tools
    if task.metadata:
        record["metadata"] = task.metadata
    return record


def tasks_to_bedrock(env: ChatEnv, tasks: Iterable[Task]) -> Iterator[dict[str, Any]]:
    """Bedrock RFT records of ``tasks``, with the openings ``env.reset`` gives."""
    for task in tasks:
        opening, info = env.reset(options={"task": task})
        yield bedrock_record(task, opening, info.get("tools") or [])


def trajectories_to_bedrock(
    trajectories: Iterable[Trajectory], find_task: Callable[[Trajectory], Task]
) -> Iterator[dict[str, Any]]:
    """Bedrock RFT records of the tasks played in ``trajectories`` (each task once), with the
    opening messages (up to the first assistant message) and tools the episodes had.
    ``find_task(traj) -> Task`` supplies the reference answer."""
    seen: set[tuple[str, str]] = set()
    for traj in trajectories:
        if (traj.env_id, traj.task_id) in seen:
            continue
        seen.add((traj.env_id, traj.task_id))
        first = next((i for i, m in enumerate(traj.messages) if m.get("role") == "assistant"), len(traj.messages))
        yield bedrock_record(find_task(traj), traj.messages[:first], traj.tools)


def sft_records(trajectories: Iterable[Trajectory], threshold: float = 1.0) -> Iterator[dict[str, Any]]:
    """OpenAI chat fine-tuning records of the episodes without error whose reward is >= ``threshold``."""
    for traj in trajectories:
        if traj.error is None and traj.reward >= threshold:
            messages = [
                {k: m[k] for k in _MESSAGE_KEYS if k in m and (m[k] is not None or k == "content")}
                for m in traj.messages
            ]
            yield {"messages": messages, **({"tools": traj.tools} if traj.tools else {})}


def write_jsonl(records: Iterable[dict[str, Any]], out: str | os.PathLike[str]) -> int:
    """Write ``records`` as JSON lines to ``out``; returns how many."""
    count = 0
    with open(out, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def check_bedrock_size(count: int) -> str | None:
    """A warning when ``count`` records are fewer than Bedrock RFT accepts, else None. More than
    it accepts raises ValueError."""
    if count > BEDROCK_MAX_RECORDS:
        raise ValueError(
            f"{count} records: Bedrock RFT accepts at most {BEDROCK_MAX_RECORDS:,} (pass --limit {BEDROCK_MAX_RECORDS})"
        )
    if count < BEDROCK_MIN_RECORDS:
        return f"{count} records: a Bedrock RFT training dataset needs at least {BEDROCK_MIN_RECORDS}"
    return None
