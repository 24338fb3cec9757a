"""Chat environments: the contract (ChatEnv), message spaces, tools, tasks and the registry."""

from rftgym.envs.core import ChatEnv
from rftgym.envs.registry import register_env, registered_envs
from rftgym.envs.spaces import MessageListSpace, MessageSpace
from rftgym.envs.tasks import Task
from rftgym.envs.tools import Tool, Toolbox, ToolResult, tool

register_env("rftgym/MathTools-v0", "rftgym.envs.math:MathToolsEnv")
register_env("rftgym/CodeSandbox-v0", "rftgym.envs.code:CodeSandboxEnv")
register_env("rftgym/Retail-v0", "rftgym.envs.customer_service:RetailEnv")
register_env("rftgym/Airline-v0", "rftgym.envs.customer_service:AirlineEnv")
register_env("rftgym/Letters-v0", "rftgym.envs.letters:LettersEnv")

__all__ = [
    "ChatEnv",
    "MessageListSpace",
    "MessageSpace",
    "Task",
    "Tool",
    "ToolResult",
    "Toolbox",
    "register_env",
    "registered_envs",
    "tool",
]
