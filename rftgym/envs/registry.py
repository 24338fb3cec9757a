"""Registration of rftgym envs in Gymnasium's registry, as ``rftgym/<Name>-v<N>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium
from gymnasium.envs.registration import load_env_creator

if TYPE_CHECKING:
    from rftgym.envs.core import ChatEnv

NAMESPACE = "rftgym"


def register_env(env_id: str, entry_point: str, **kwargs: Any) -> None:
    """Register an env under ``env_id`` (``rftgym/<Name>-v<N>`` for built-ins); ``kwargs`` are its defaults."""
    if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs)


def registered_envs(namespace: str | None = NAMESPACE) -> dict[str, str]:
    """Ids of the registered chat envs (of ``namespace``, or all ChatEnvs) with a one-line description."""
    from rftgym.envs.core import ChatEnv

    found = {}
    for env_id, spec in sorted(gymnasium.registry.items()):
        if (namespace and spec.namespace != namespace) or spec.entry_point is None:
            continue  # another namespace, or a vector-only env
        creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
        if isinstance(creator, type) and issubclass(creator, ChatEnv):
            found[env_id] = (creator.__doc__ or "").strip().splitlines()[0] if creator.__doc__ else ""
    return found


def chat_env(env: gymnasium.Env[Any, Any]) -> ChatEnv:
    """The :class:`ChatEnv` inside ``env`` (Gymnasium wraps what ``gymnasium.make`` returns).

    Raises:
        TypeError: ``env`` is some other Gymnasium env, which rftgym cannot play.
    """
    from rftgym.envs.core import ChatEnv

    inner = env.unwrapped
    if not isinstance(inner, ChatEnv):
        name = env.spec.id if env.spec else type(inner).__name__
        raise TypeError(f"{name} is a {type(inner).__name__}, not an rftgym ChatEnv: rftgym plays chat envs only")
    return inner
