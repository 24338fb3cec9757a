"""rftgym: multi-turn agentic reinforcement fine-tuning.

Gymnasium chat environments (``rftgym.envs``) play episodes against an OpenAI-compatible policy
(``rftgym.agents``) in the rollout loop (``rftgym.rollout``); every turn is scored and every episode
becomes one line of a trajectory file (``rftgym.trajectories``). The core types they share are in
``rftgym.types``.

Importing rftgym registers the built-in envs with Gymnasium (``gymnasium.make("rftgym/MathTools-v0")``
works after ``import rftgym``). Everything else is imported on first use, so ``import
rftgym.trajectories`` (a training script reading files) loads neither the HTTP client, Docker nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import rftgym.envs  # noqa: F401  (registers the built-in envs; their modules load on gymnasium.make)
from rftgym._lazy import lazy_exports

# Imported now, not on first use: the function must shadow the submodule of the same name.
from rftgym.rollout import RolloutResult, arollout, rollout

__version__ = "0.1.0"

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "ChatPolicy": "agents",
    "NoopPolicy": "agents",
    "OraclePolicy": "agents",
    "Policy": "agents",
    "PolicyError": "agents",
    "PolicyResponse": "agents",
    "TaskPolicy": "agents",
    "make_policy": "agents",
    "ChatEnv": "envs",
    "MessageListSpace": "envs",
    "MessageSpace": "envs",
    "Toolbox": "envs",
    "register_env": "envs",
    "registered_envs": "envs",
    "tool": "envs",
    "RewardTerm": "rewards",
    "Rubric": "rewards",
    "Trajectory": "trajectories",
    "TrajectoryFileError": "trajectories",
    "TrajectoryWriter": "trajectories",
    "Turn": "trajectories",
    "read_trajectories": "trajectories",
    "summarize": "trajectories",
    "validate_file": "trajectories",
    "Message": "types",
    "Task": "types",
    "ToolCall": "types",
    "ToolResult": "types",
    "tool_call": "types",
}

__all__ = [
    "ChatEnv",
    "ChatPolicy",
    "Message",
    "MessageListSpace",
    "MessageSpace",
    "NoopPolicy",
    "OraclePolicy",
    "Policy",
    "PolicyError",
    "PolicyResponse",
    "RewardTerm",
    "RolloutResult",
    "Rubric",
    "Task",
    "TaskPolicy",
    "ToolCall",
    "ToolResult",
    "Toolbox",
    "Trajectory",
    "TrajectoryFileError",
    "TrajectoryWriter",
    "Turn",
    "arollout",
    "make_policy",
    "read_trajectories",
    "register_env",
    "registered_envs",
    "rollout",
    "summarize",
    "tool",
    "tool_call",
    "validate_file",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from rftgym.agents import (
        ChatPolicy,
        NoopPolicy,
        OraclePolicy,
        Policy,
        PolicyError,
        PolicyResponse,
        TaskPolicy,
        make_policy,
    )
    from rftgym.envs import (
        ChatEnv,
        MessageListSpace,
        MessageSpace,
        Toolbox,
        register_env,
        registered_envs,
        tool,
    )
    from rftgym.rewards import RewardTerm, Rubric
    from rftgym.trajectories import (
        Trajectory,
        TrajectoryFileError,
        TrajectoryWriter,
        Turn,
        read_trajectories,
        summarize,
        validate_file,
    )
    from rftgym.types import Message, Task, ToolCall, ToolResult, tool_call
