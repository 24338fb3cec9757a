"""Registration of rftgym envs in Gymnasium's registry, as ``rftgym/<Name>-v<N>``."""

from __future__ import annotations

import gymnasium
from gymnasium.envs.registration import load_env_creator

NAMESPACE = "rftgym"


def register_env(env_id: str, entry_point: str, **kwargs) -> None:
    """Register an env under ``env_id`` (``rftgym/<Name>-v<N>`` for built-ins); ``kwargs`` are its defaults."""
    if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs)


def registered_envs(namespace: str | None = NAMESPACE) -> dict[str, str]:
    """Ids of the registered chat envs (of ``namespace``, or all ChatEnvs) with a one-line description."""
    from rftgym.envs.core import ChatEnv

    found = {}
    for env_id, spec in sorted(gymnasium.registry.items()):
        if namespace and spec.namespace != namespace:
            continue
        creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
        if isinstance(creator, type) and issubclass(creator, ChatEnv):
            found[env_id] = (creator.__doc__ or "").strip().splitlines()[0] if creator.__doc__ else ""
    return found
