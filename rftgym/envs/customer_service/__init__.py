"""Tool-calling customer-service simulators: an agent serves a simulated customer under a written
policy, acting on a per-episode copy-on-write database.

Domains: ``retail`` (:class:`RetailEnv`, ``rftgym/Retail-v0``) and ``airline`` (:class:`AirlineEnv`,
``rftgym/Airline-v0``). The shared parts: ``db`` (copy-on-write
databases and their diff), ``env`` (the episode, tool auditing, the oracle), ``users`` (scripted
and LLM customers), ``scenarios`` (tasks and splits), ``rewards`` and ``lint`` (the task linter).
"""

from rftgym.envs.customer_service.airline import AirlineEnv
from rftgym.envs.customer_service.retail import RetailEnv

__all__ = ["AirlineEnv", "RetailEnv"]
