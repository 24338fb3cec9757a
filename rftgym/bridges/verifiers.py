"""An rftgym env as a ``verifiers`` environment (``pip install 'rftgym[verifiers]'``), for the
trainers that run verifiers environments (Nova Forge's multi-turn RFT container, prime-rl)::

    from rftgym.bridges.verifiers import load_environment
    vf_env = load_environment("rftgym/MathTools-v0", split="test", num_tasks=50)

Targets the ``MultiTurnEnv`` / ``Rubric`` API of verifiers before 0.4 (0.4's ``verifiers.v1``
taskset API is not covered). The verifiers environment does not re-implement the env: each rollout
owns one rftgym env, reset onto the row's task (``info["task_id"]``); every assistant turn goes
to ``env.step`` (tools, user simulator, ``react``, the rubric), whose new messages are the env
response; the episode ends when the env says so (``final_env_response``).

Rewards: the verifiers rubric has two reward functions, weight 1 each, ``rftgym_turns`` (the sum
of the turns' own rewards) and ``rftgym_outcome`` (the outcome reward), so the verifiers reward
equals rftgym's episode reward (``Trajectory.reward``). The named components of the env's rubric
are kept in the rollout's state under ``"rftgym"`` (``turns``, ``outcome``, ``turn_components``
summed over turns, ``outcome_components``). An env failure ends the rollout with a verifiers
error (never a 0 reward).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import gymnasium

try:
    import verifiers as vf
    from datasets import Dataset
    from verifiers.utils.message_utils import from_raw_message
except ImportError as e:  # pragma: no cover - the extra is missing
    raise ImportError("the verifiers bridge needs the verifiers extra: pip install 'rftgym[verifiers]'") from e

from rftgym.envs.core import ChatEnv
from rftgym.envs.registry import chat_env
from rftgym.types import Message, StepRecord, tool_call

_ENV, _RECORD = "rftgym_env", "rftgym"


class RftgymEnv(vf.MultiTurnEnv):
    """A verifiers ``MultiTurnEnv`` that plays an rftgym env (see the module docstring)."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], dataset: Dataset, tools: list[Any], **kwargs: Any):
        self.rftgym_env_id, self.rftgym_env_kwargs = env_id, env_kwargs
        rubric = vf.Rubric(funcs=[_turns, _outcome], weights=[1.0, 1.0])
        super().__init__(dataset=dataset, eval_dataset=dataset, rubric=rubric, tool_defs=tools, **kwargs)

    async def setup_state(self, state: Any) -> Any:
        make = functools.partial(gymnasium.make, self.rftgym_env_id, **self.rftgym_env_kwargs)
        env = chat_env(await asyncio.to_thread(make))
        state[_ENV] = env
        state[_RECORD] = {"turns": [], "outcome": 0.0, "turn_components": {}, "outcome_components": {}}
        info = state.get("info") or {}
        await asyncio.to_thread(env.reset, seed=int(info.get("seed", 0)), options={"task": info["task_id"]})
        return state

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
        env: ChatEnv = state[_ENV]
        try:
            obs, _, terminated, truncated, info = await asyncio.to_thread(env.step, _openai_message(messages[-1]))
        except Exception as e:  # an env failure is the rollout's error, never a reward
            raise vf.Error(f"{type(e).__name__}: {e}") from e
        _record(state[_RECORD], StepRecord.from_info(info))
        response = [from_raw_message(dict(m)) for m in obs]
        if terminated or truncated:
            state["final_env_response"] = response
        return response

    @vf.cleanup
    async def close_rftgym_env(self, state: Any) -> None:
        env = state.pop(_ENV, None)
        if env is not None:
            env.close()


def _record(record: dict[str, Any], step: StepRecord) -> None:
    """Fold one step's rewards and components into the rollout's record."""
    record["turns"].append(step.reward)
    for name, value in step.reward_components.items():
        record["turn_components"][name] = record["turn_components"].get(name, 0.0) + value
    if step.outcome is not None:
        record["outcome"] = step.outcome.reward
        record["outcome_components"] = dict(step.outcome.components)


async def _turns(state: Any, **kwargs: Any) -> float:
    """rftgym's per-turn rewards, summed."""
    return float(sum(state.get(_RECORD, {}).get("turns", [])))


async def _outcome(state: Any, **kwargs: Any) -> float:
    """rftgym's outcome reward."""
    return float(state.get(_RECORD, {}).get("outcome", 0.0))


_turns.__name__, _outcome.__name__ = "rftgym_turns", "rftgym_outcome"


def _openai_message(message: Any) -> Message:
    """A verifiers assistant message as the OpenAI dict an rftgym env takes."""
    content = message.content
    if isinstance(content, list):
        content = "".join(
            getattr(p, "text", None) or (p.get("text", "") if isinstance(p, dict) else "") for p in content
        )
    out: Message = {"role": "assistant", "content": content}
    if message.tool_calls:
        out["tool_calls"] = [tool_call(c.name, c.arguments, c.id) for c in message.tool_calls]
    return out


def load_environment(
    env_id: str,
    *,
    split: str = "test",
    num_tasks: int | None = None,
    task_ids: list[str] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RftgymEnv:
    """A verifiers environment of ``env_id``'s tasks (``task_ids``, else the first ``num_tasks``
    of ``split``). ``kwargs`` go to ``MultiTurnEnv`` (e.g. ``max_turns``, ``timeout_seconds``)."""
    env_kwargs = dict(env_kwargs or {})
    env = chat_env(gymnasium.make(env_id, **env_kwargs))
    try:
        tasks = [env.task_by_id(t) for t in task_ids] if task_ids else env.tasks(split, num_tasks)
        rows: list[dict[str, Any]] = []
        tools: list[dict[str, Any]] = []
        for task in tasks:
            opening, info = env.reset(seed=0, options={"task": task})
            rows.append(
                {
                    "prompt": opening,
                    "answer": json.dumps(task.answer),
                    "info": json.dumps({"task_id": task.id, "seed": 0, "env_id": env_id}),
                }
            )
            tools = info.get("tools") or []
    finally:
        env.close()
    tool_defs = [
        vf.Tool(
            name=t["function"]["name"],
            description=t["function"].get("description") or "",
            parameters=t["function"]["parameters"],
        )
        for t in tools
    ]
    return RftgymEnv(env_id, env_kwargs, Dataset.from_list(rows), tool_defs, **kwargs)
