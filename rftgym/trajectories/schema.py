"""The trajectory file schema, ``rftgym.trajectory/1``: one episode per JSONL line.

Every field of :class:`Trajectory` and :class:`Turn` is written on every line (``None`` where
unknown), so ``datasets.load_dataset("json", data_files=...)`` reads the files as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA = "rftgym.trajectory/1"


@dataclass
class Turn:
    """One assistant turn of an episode.

    Attributes:
        message_index: Index of the assistant message in ``Trajectory.messages``.
        reward: This turn's reward: the weighted sum of ``reward_components`` (no outcome part).
        reward_components: This turn's named reward components.
        tool_calls: How many tool calls the turn made.
        tool_errors: Malformed tool calls by kind (``invalid_json``, ``unknown_tool``,
            ``invalid_arguments``, ``tool_exception``).
        finish_reason: The endpoint's finish reason (``stop``, ``tool_calls``, ``length``...).
        prompt_token_ids: Token ids of the prompt as the endpoint tokenised it, when it says.
        completion_token_ids: Token ids the endpoint sampled, when it says.
        logprobs: Log-probability of each sampled token, when the endpoint gives them.
        usage: ``prompt_tokens`` and ``completion_tokens`` as the endpoint counted them.
        policy_latency_s: Seconds spent waiting for the policy (retries included).
        env_latency_s: Seconds the env's ``step`` took.
    """

    message_index: int
    reward: float = 0.0
    reward_components: dict[str, float] = field(default_factory=dict)
    tool_calls: int = 0
    tool_errors: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: dict[str, int] | None = None
    policy_latency_s: float = 0.0
    env_latency_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Turn:
        return cls(**_known(cls, data))


@dataclass
class Trajectory:
    """One episode.

    Attributes:
        id: Episode id, unique within a file: ``<task_id>#<sample_index>``.
        run_id: The run that produced it.
        env_id: Gymnasium id of the env (``rftgym/MathTools-v0``).
        task_id: The task.
        group_id: Episodes of one group share it (the samples of one task, for GRPO and pass@k).
        sample_index: 0..group_size-1 within the group.
        policy: ``name``, ``model``, ``base_url``, ``sampling`` and ``weights_version``.
        messages: The whole conversation, OpenAI message dicts.
        tools: The OpenAI tool schemas the policy was offered.
        turns: One :class:`Turn` per assistant message.
        outcome_reward: Weighted sum of ``outcome_components`` (0 when the episode did not end).
        outcome_components: Named outcome reward components.
        reward: The total: sum of the turns' rewards plus the outcome reward.
        terminated: The task ended (see ``termination_reason``).
        truncated: A budget ran out (turns, time).
        termination_reason: Why the episode ended (``submitted``, ``max_turns``, ``error``...).
        error: ``{"type", "message"}`` when the episode failed (endpoint down, env exception), else None.
        timings: ``started_at`` (unix seconds), ``duration_s``, ``policy_s``, ``env_s``.
        metadata: Free-form (seed, split, env arguments...).
    """

    id: str
    run_id: str
    env_id: str
    task_id: str
    group_id: str
    sample_index: int
    policy: dict[str, Any] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    tools: list[dict] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    outcome_reward: float = 0.0
    outcome_components: dict[str, float] = field(default_factory=dict)
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    termination_reason: str | None = None
    error: dict[str, str] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        data = asdict(self)
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_dict(cls, data: dict) -> Trajectory:
        """Build from a parsed line; raises ValueError naming what is missing or wrong."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema is {data.get('schema')!r}, expected {SCHEMA!r}")
        missing = sorted(name for name in _REQUIRED if name not in data)
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        known = _known(cls, data)
        known["turns"] = [Turn.from_dict(t) for t in known.get("turns") or []]
        return cls(**known)

    @property
    def num_turns(self) -> int:
        return len(self.turns)


_REQUIRED = {"id", "run_id", "env_id", "task_id", "group_id", "sample_index", "messages", "turns", "reward"}


def _known(cls: type, data: dict) -> dict:
    """The entries of ``data`` that are fields of ``cls`` (newer writers may add fields)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
