"""Chat environments: the contract (ChatEnv), message spaces, tools and the registry.

Importing this package registers the built-in envs in Gymnasium's registry (their entry points
are strings, so no env module is imported until ``gymnasium.make``); the names below are imported
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rftgym._lazy import lazy_exports
from rftgym.envs.registry import chat_env, register_env, registered_envs

register_env("rftgym/MathTools-v0", "rftgym.envs.math:MathToolsEnv")
register_env("rftgym/CodeSandbox-v0", "rftgym.envs.code:CodeSandboxEnv")
register_env("rftgym/Retail-v0", "rftgym.envs.customer_service:RetailEnv")
register_env("rftgym/Airline-v0", "rftgym.envs.customer_service:AirlineEnv")
register_env("rftgym/Letters-v0", "rftgym.envs.letters:LettersEnv")
register_env("rftgym/Wordle-v0", "rftgym.envs.wordle:WordleEnv")
register_env("rftgym/Extraction-v0", "rftgym.envs.extraction:ExtractionEnv")
register_env("rftgym/Finance-v0", "rftgym.envs.finance:FinanceEnv")
register_env("rftgym/Moderation-v0", "rftgym.envs.moderation:ModerationEnv")
register_env("rftgym/Dataset-v0", "rftgym.envs.dataset:DatasetEnv")

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "ChatEnv": "core",
    "MessageListSpace": "spaces",
    "MessageSpace": "spaces",
    "Tool": "tools",
    "Toolbox": "tools",
    "tool": "tools",
}

__all__ = [
    "chat_env",
    "ChatEnv",
    "MessageListSpace",
    "MessageSpace",
    "Tool",
    "Toolbox",
    "register_env",
    "registered_envs",
    "tool",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from rftgym.envs.core import ChatEnv
    from rftgym.envs.spaces import MessageListSpace, MessageSpace
    from rftgym.envs.tools import Tool, Toolbox, tool
