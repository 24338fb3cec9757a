"""Registration of rftgym envs in Gymnasium's registry, as ``rftgym/<Name>-v<N>``."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
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


def import_env_modules(modules: Sequence[str]) -> None:
    """Import the modules that register envs (a user's own, named by ``--import`` or recorded in a
    trajectory file's ``metadata["env_modules"]``).

    Raises:
        ValueError: A module cannot be imported, or fails while importing; one line saying which.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as e:  # not found, or an error inside it: either way one line
            reason = " ".join(str(e).split())[:300]
            raise ValueError(f"cannot import {module!r} (to register envs): {type(e).__name__}: {reason}") from None


def env_modules(env_id: str) -> list[str]:
    """The module to import again to find ``env_id`` later (``rescore``, ``--resume``): its entry
    point's module, unless it is one of rftgym's own (registered on import of ``rftgym.envs``)."""
    if env_id not in gymnasium.registry:  # made some other way (rollout's make_env)
        return []
    entry = gymnasium.registry[env_id].entry_point
    module = entry.partition(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", None)
    return [module] if module and module.split(".")[0] != "rftgym" and module != "__main__" else []


def registered_envs(namespace: str | None = NAMESPACE) -> dict[str, str]:
    """Ids of the registered chat envs (of ``namespace``, or all ChatEnvs) with a one-line description."""
    found = {}
    for env_id, spec in sorted(gymnasium.registry.items()):
        if namespace and spec.namespace != namespace:
            continue
        description = describe_env(env_id)
        if description is not None:
            found[env_id] = description
    return found


def describe_env(env_id: str) -> str | None:
    """The first line of the docstring of ``env_id``'s ChatEnv class ("" without one); None when
    ``env_id`` is not a ChatEnv (another Gymnasium env, a vector-only env)."""
    from rftgym.envs.core import ChatEnv

    entry = gymnasium.registry[env_id].entry_point
    if entry is None:
        return None
    creator = entry if callable(entry) else load_env_creator(entry)
    if not (isinstance(creator, type) and issubclass(creator, ChatEnv)):
        return None
    return (creator.__doc__ or "").strip().splitlines()[0] if creator.__doc__ else ""


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
