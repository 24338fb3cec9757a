"""The core types every part of rftgym shares. This module imports nothing else from rftgym.

* Messages and tool calls are the OpenAI chat-completions dicts, exactly as they travel on the
  wire and sit in trajectory files; the TypedDicts below only name their keys for readers and the
  type checker (no private message classes). :func:`tool_call` is the one place a tool call is built.
* :class:`Task` is one problem of an env; :class:`ToolResult` is what one tool call produced.
* :class:`StepRecord` is what one ``env.step`` tells the rollout loop beyond Gymnasium's scalar
  reward. Gymnasium's ``info`` dict carries it: the env writes it with :meth:`StepRecord.to_info`,
  the loop reads it with :meth:`StepRecord.from_info`; the key names live here and nowhere else.
  :class:`ResetInfo` does the same for ``reset``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

Role = Literal["system", "user", "assistant", "tool", "developer"]


class FunctionCall(TypedDict):
    """The ``function`` of a tool call: the tool's name and its arguments as a JSON string."""

    name: str
    arguments: str


class ToolCall(TypedDict):
    """One entry of an assistant message's ``tool_calls``. Build one with :func:`tool_call`."""

    id: str
    type: Literal["function"]
    function: FunctionCall


class Message(TypedDict, total=False):
    """An OpenAI chat message.

    Keys:
        role: ``system``, ``user``, ``assistant``, ``tool`` (or ``developer``).
        content: The text (None for an assistant message that only calls tools); a list of
            ``{"type": "text", "text": ...}`` parts is accepted where OpenAI accepts it.
        tool_calls: An assistant message's tool calls.
        tool_call_id: A tool message's answer to the call with this id.
        name: A tool message's tool name.
        reasoning_content: An assistant message's reasoning text, when the endpoint returned it
            (vLLM's reasoning parsers, DeepSeek, Qwen3). Stored in trajectory files; what is sent
            back to an endpoint is the policy's rule (``ChatPolicy(send_reasoning=...)``).
    """

    role: Role
    content: str | list[dict[str, Any]] | None
    tool_calls: list[ToolCall]
    tool_call_id: str
    name: str
    reasoning_content: str


class ToolSchema(TypedDict):
    """An OpenAI tool schema: ``{"type": "function", "function": {"name", "description", "parameters"}}``."""

    type: Literal["function"]
    function: dict[str, Any]


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str | None = None) -> ToolCall:
    """A tool call as OpenAI writes it: ``arguments`` (a dict, or an already-encoded JSON string)
    become the JSON string the API carries; without ``call_id`` a fresh ``call_<hex>`` id is made
    (the env answers each call with a tool message naming its id, so one must exist)."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": call_id or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": encoded},
    }


def assistant_message(content: str | None = None, tool_calls: list[ToolCall] | None = None) -> Message:
    """An assistant message with ``content`` and, when given, ``tool_calls``."""
    message: Message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def message_text(message: Message | dict[str, Any] | None) -> str:
    """The text of a message: its ``content`` string, or the joined text parts of a list content
    (``[{"type": "text", "text": ...}]``); "" when it has none."""
    content = message.get("content") if message else None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


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
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(**data)


#: The kinds of malformed tool call a turn counts (:attr:`StepRecord.tool_errors`).
ToolErrorKind = Literal["invalid_json", "unknown_tool", "invalid_arguments", "tool_exception"]
TOOL_ERROR_KINDS: tuple[ToolErrorKind, ...] = ("invalid_json", "unknown_tool", "invalid_arguments", "tool_exception")


@dataclass
class ToolResult:
    """What one tool call produced: the tool message for the model and, if it failed, why.

    Attributes:
        message: The ``role: "tool"`` message answering the call.
        error: One of :data:`TOOL_ERROR_KINDS` when the call failed, else None.
        value: The tool's return value, before it was turned into text (None on failure).
    """

    message: Message
    error: ToolErrorKind | None = None
    value: Any = None


@dataclass
class Outcome:
    """How an episode ended, scored once on its final step.

    Attributes:
        reward: The outcome reward: the weighted sum of ``components``.
        components: The named outcome components.
        termination_reason: Why it ended (``submitted``, ``user_stop``, ``max_turns``...).
    """

    reward: float
    components: dict[str, float]
    termination_reason: str


@dataclass
class StepRecord:
    """What one ``env.step`` reports beyond Gymnasium's scalar reward.

    Attributes:
        turn: 1-based index of the assistant turn this step played.
        reward: This turn's own reward: the weighted sum of ``reward_components`` (no outcome part).
        reward_components: This turn's named reward components.
        tool_calls: How many tool calls the turn made.
        tool_errors: Malformed tool calls by kind (:data:`TOOL_ERROR_KINDS`).
        outcome: Set on the final step (terminated or truncated), else None.
    """

    turn: int
    reward: float
    reward_components: dict[str, float]
    tool_calls: int = 0
    tool_errors: dict[str, int] = field(default_factory=dict)
    outcome: Outcome | None = None

    @property
    def total_reward(self) -> float:
        """The reward Gymnasium's ``step`` returns: the turn's reward plus, on the final step, the
        outcome reward, so that the step rewards of an episode sum to its return."""
        return self.reward + (self.outcome.reward if self.outcome else 0.0)

    def to_info(self) -> dict[str, Any]:
        """The Gymnasium ``info`` dict of this step: ``turn``, ``reward_components``,
        ``tool_calls``, ``tool_errors`` and, on the final step, ``outcome_reward``,
        ``outcome_components`` and ``termination_reason``."""
        info: dict[str, Any] = {
            "turn": self.turn,
            "turn_reward": self.reward,
            "reward_components": self.reward_components,
            "tool_calls": self.tool_calls,
            "tool_errors": self.tool_errors,
        }
        if self.outcome is not None:
            info["outcome_reward"] = self.outcome.reward
            info["outcome_components"] = self.outcome.components
            info["termination_reason"] = self.outcome.termination_reason
        return info

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> StepRecord:
        """Read back what :meth:`to_info` wrote (through any Gymnasium wrapper that keeps ``info``)."""
        outcome = None
        if "termination_reason" in info:
            outcome = Outcome(
                float(info.get("outcome_reward", 0.0)),
                info.get("outcome_components", {}),
                info["termination_reason"],
            )
        return cls(
            turn=int(info.get("turn", 0)),
            reward=float(info.get("turn_reward", 0.0)),
            reward_components=info.get("reward_components", {}),
            tool_calls=int(info.get("tool_calls", 0)),
            tool_errors=info.get("tool_errors", {}),
            outcome=outcome,
        )


@dataclass
class ResetInfo:
    """What ``env.reset`` reports in its ``info`` dict.

    Attributes:
        task_id: The episode's task.
        split: The task's split.
        tools: The OpenAI tool schemas to send with every request of the episode.
    """

    task_id: str
    split: str
    tools: list[ToolSchema]

    def to_info(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "split": self.split, "tools": self.tools}

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ResetInfo:
        return cls(str(info.get("task_id", "")), str(info.get("split", "")), list(info.get("tools") or []))
