"""Scoring a finished conversation after the fact, without the env or the model.

A stored trajectory (``rftgym rescore``) or a Bedrock Lambda sample holds the whole transcript.
:func:`score_transcript` cuts it into the contexts the env would have scored as it played (one per
assistant turn, with the tool results rebuilt from the tool messages, then the outcome) and scores
them with a rubric. Terms that read live env state (``needs_env``) cannot run here: their values
come from the components recorded when the episode was played.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rftgym.rewards.rubric import RewardContext, Rubric
from rftgym.types import TOOL_ERROR_KINDS, Message, Task, ToolErrorKind, ToolResult


@dataclass
class TranscriptScore:
    """A rubric's scores of one conversation.

    Attributes:
        turns: ``(reward, components)`` of each assistant turn, in order.
        outcome: ``(reward, components)`` of the outcome, or None when it was not scored.
        outcome_context: The context the outcome was scored in (for group terms).
    """

    turns: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    outcome: tuple[float, dict[str, float]] | None = None
    outcome_context: RewardContext | None = None

    @property
    def total(self) -> float:
        """The sum of the turn rewards and the outcome reward."""
        return sum(r for r, _ in self.turns) + (self.outcome[0] if self.outcome else 0.0)


def score_transcript(
    rubric: Rubric,
    task: Task,
    messages: list[Message],
    *,
    turn_indices: Sequence[int] | None = None,
    tool_errors: Sequence[dict[str, int]] | None = None,
    recorded: Sequence[dict[str, float]] | None = None,
    recorded_outcome: dict[str, float] | None = None,
    outcome: bool = True,
    trajectory: Any = None,
) -> TranscriptScore:
    """Score ``messages`` as the env would have while they were played.

    Args:
        rubric: The rubric to apply (turn and outcome terms; group terms are scored by the caller).
        task: The episode's task (its ``answer`` is the reference).
        messages: The whole conversation.
        turn_indices: Index in ``messages`` of each scored assistant turn (a trajectory's
            ``turns[i].message_index``); default: every assistant message.
        tool_errors: Each turn's ``tool_errors`` counts by kind, to label the rebuilt failed tool
            results (a tool message starting with ``Error:``); unknown kinds read ``tool_exception``.
        recorded: Each turn's components as recorded when played: the values of the rubric's
            ``needs_env`` terms are taken from them.
        recorded_outcome: The recorded outcome components, likewise.
        outcome: Score the outcome too (False for an episode that did not end).
        trajectory: Passed to the terms as ``ctx.trajectory``.
    """
    if turn_indices is None:
        turn_indices = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    scored = TranscriptScore()
    for n, index in enumerate(turn_indices):
        end = turn_indices[n + 1] if n + 1 < len(turn_indices) else len(messages)
        kinds = tool_errors[n] if tool_errors and n < len(tool_errors) else {}
        ctx = RewardContext(
            task, messages[:end], n + 1, results=_results(messages, index, kinds), trajectory=trajectory
        )
        kept = recorded[n] if recorded and n < len(recorded) else {}
        scored.turns.append(rubric.score(ctx, "turn", kept))
    if outcome:
        scored.outcome_context = RewardContext(task, messages, len(turn_indices), trajectory=trajectory)
        scored.outcome = rubric.score(scored.outcome_context, "outcome", recorded_outcome or {})
    return scored


def _results(messages: list[Message], index: int, kinds: dict[str, int]) -> list[ToolResult]:
    """The ToolResults of the assistant turn at ``index``: the tool messages answering its calls."""
    call_ids = {c.get("id") for c in messages[index].get("tool_calls") or []}
    labels = [_error_kind(kind) for kind, count in kinds.items() for _ in range(count)]
    results = []
    for message in messages[index + 1 :]:
        if message.get("role") != "tool":
            break
        if message.get("tool_call_id") in call_ids:
            failed = str(message.get("content") or "").startswith("Error:")
            error = (labels.pop(0) if labels else "tool_exception") if failed else None
            results.append(ToolResult(message, error))
    return results


def _error_kind(kind: str) -> ToolErrorKind:
    """``kind`` as recorded in a file, if it is one of ``TOOL_ERROR_KINDS``, else ``tool_exception``."""
    return kind if kind in TOOL_ERROR_KINDS else "tool_exception"
