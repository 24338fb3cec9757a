"""rftgym: multi-turn agentic reinforcement fine-tuning.

Gymnasium chat environments (``rftgym.envs``) play episodes against an OpenAI-compatible policy
(``rftgym.agents``) in the rollout loop (``rftgym.rollout``); every turn is scored and every episode
becomes one line of a trajectory file (``rftgym.trajectories``).
"""

from rftgym.agents import ChatPolicy, NoopPolicy, OraclePolicy, Policy, PolicyError, PolicyResponse, make_policy
from rftgym.envs import ChatEnv, MessageListSpace, MessageSpace, Task, Toolbox, register_env, registered_envs, tool
from rftgym.rollout import RolloutResult, arollout, rollout
from rftgym.trajectories import (
    Trajectory,
    TrajectoryFileError,
    TrajectoryWriter,
    Turn,
    read_trajectories,
    summarize,
    validate_file,
)

__version__ = "0.1.0"

__all__ = [
    "ChatEnv",
    "ChatPolicy",
    "MessageListSpace",
    "MessageSpace",
    "NoopPolicy",
    "OraclePolicy",
    "Policy",
    "PolicyError",
    "PolicyResponse",
    "RolloutResult",
    "Task",
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
    "validate_file",
]
