"""The chat environment contract: a Gymnasium env whose observations and actions are chat messages.

One episode is one conversation about one :class:`~rftgym.envs.tasks.Task`:

* ``reset(seed=None, options={"task": task_or_id})`` returns ``(messages, info)``: the opening
  messages (system prompt, first user message); ``info["task_id"]`` and ``info["tools"]`` (the
  OpenAI tool schemas to send with every request).
* ``step(action)`` takes one assistant message (content and/or ``tool_calls``) and returns
  ``(messages, reward, terminated, truncated, info)``:

  - ``messages``: the new messages the action caused (tool results, then e.g. a user's reply).
  - ``reward``: this turn's reward, the weighted sum of ``info["reward_components"]``; on the
    final step it also includes the outcome reward, so the sum of all step rewards is the return.
  - ``terminated``: the task ended (an answer was submitted, the user stopped, a transfer...).
  - ``truncated``: a budget ran out (``max_turns``). Both are never true together.
  - ``info``: ``reward_components`` (this turn's named components), ``tool_calls`` (how many the
    turn made), ``tool_errors`` (malformed calls by kind); on the final step also
    ``outcome_components``, ``outcome_reward`` and ``termination_reason``.

A new env subclasses :class:`ChatEnv`, declares tools as ``@tool`` methods and fills in the hooks
below (``tasks``, ``react``, ``oracle_action``). Its rewards come from ``rubric``, a
:class:`~rftgym.rewards.Rubric` of reward terms (the way every built-in env scores); an env
without one scores with the ``turn_components`` / ``outcome_components`` hooks and
``reward_weights`` instead.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from rftgym.envs.spaces import MessageListSpace, MessageSpace, message_problem
from rftgym.envs.tasks import Task
from rftgym.envs.tools import Toolbox, ToolResult
from rftgym.rewards.rubric import RewardContext, Rubric


class ChatEnv(gymnasium.Env[list, dict]):
    """Base class of every rftgym environment. See the module docstring for the contract."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    #: Task splits this env offers; the first one is where ``reset()`` without a task draws from.
    splits: tuple[str, ...] = ("train", "test")
    #: The env's reward terms. When None, the ``turn_components`` / ``outcome_components`` hooks
    #: and ``reward_weights`` score instead.
    rubric: Rubric | None = None
    #: Without a rubric: weight of each named reward component (turn and outcome); a component
    #: not listed weighs 1.0.
    reward_weights: dict[str, float] = {}

    def __init__(self, max_turns: int = 10, render_mode: str | None = None):
        """Args:
        max_turns: Assistant turns before the episode is truncated.
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns the transcript as text).
        """
        self.max_turns = max_turns
        self.render_mode = render_mode
        self.toolbox = Toolbox.of(self)
        self.action_space = MessageSpace(("assistant",), tool_names=list(self.toolbox.tools))
        self.observation_space = MessageListSpace()
        self.task: Task | None = None
        self.messages: list[dict] = []
        self.turn = 0

    # ----- hooks a subclass writes -----

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """The tasks of ``split`` (the first ``num_tasks`` of them, in a fixed order)."""
        raise NotImplementedError

    def task_by_id(self, task_id: str) -> Task:
        """Find one task by id. The default searches every split."""
        for split in self.splits:
            for task in self.tasks(split):
                if task.id == task_id:
                    return task
        raise KeyError(f"{type(self).__name__} has no task {task_id!r}")

    def system_prompt(self, task: Task) -> str | None:
        """The system message of an episode, or None for none."""
        return None

    def setup(self, task: Task) -> None:
        """Prepare the episode's state for ``task`` (called by ``reset`` after the common state)."""

    def react(self, message: dict, results: list[ToolResult]) -> tuple[list[dict], str | None]:
        """After the tools ran: the further messages this turn causes (e.g. a user's reply) and
        the termination reason if the task has now ended, else None."""
        return [], None

    def turn_components(self, message: dict, results: list[ToolResult]) -> dict[str, float]:
        """Named per-turn reward components of this assistant turn (used when ``rubric`` is None)."""
        return {}

    def outcome_components(self) -> dict[str, float]:
        """Named outcome reward components, computed once when the episode ends (used when
        ``rubric`` is None)."""
        return {}

    def oracle_action(self) -> dict:
        """The reference solution's next assistant message in the current state (for the
        ``oracle`` validation policy). Every built-in env provides one."""
        raise NotImplementedError(f"{type(self).__name__} has no oracle")

    # ----- the Gymnasium API -----

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list, dict]:
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = self.sample_task()
        elif isinstance(task, str):
            task = self.task_by_id(task)
        self.task, self.turn = task, 0
        system = self.system_prompt(task)
        self.messages = [{"role": "system", "content": system}] if system else []
        self.messages.append({"role": "user", "content": task.prompt})
        self.setup(task)
        info = {"task_id": task.id, "split": task.split, "tools": self.toolbox.schemas}
        return _copied(self.messages), info

    def sample_task(self) -> Task:
        """The task of a ``reset()`` without one: drawn with the env's seeded RNG from the first split."""
        pool = self.tasks(self.splits[0])
        return pool[int(self.np_random.integers(len(pool)))]

    def step(self, action: dict) -> tuple[list, float, bool, bool, dict]:
        if self.task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        problem = message_problem(action, ("assistant",))
        if problem:
            raise ValueError(f"invalid action: {problem}")
        message = _copied(action)
        self.messages.append(message)
        self.turn += 1
        results = [self.toolbox.call(call) for call in message.get("tool_calls") or []]
        new = [r.message for r in results]
        extra, reason = self.react(message, results)
        new += extra
        self.messages += new
        reward, components = self.score_turn(message, results)
        errors: dict[str, int] = {}
        for r in results:
            if r.error:
                errors[r.error] = errors.get(r.error, 0) + 1
        info: dict[str, Any] = {
            "turn": self.turn,
            "reward_components": components,
            "tool_calls": len(results),
            "tool_errors": errors,
        }
        terminated = reason is not None
        truncated = not terminated and self.turn >= self.max_turns
        if terminated or truncated:
            info["outcome_reward"], info["outcome_components"] = self.score_outcome()
            info["termination_reason"] = reason or "max_turns"
            reward += info["outcome_reward"]
        return _copied(new), float(reward), terminated, truncated, info

    def score_turn(self, message: dict, results: list[ToolResult]) -> tuple[float, dict[str, float]]:
        """This turn's reward and named components (through ``rubric`` when the env has one)."""
        if self.rubric is None:
            components = self.turn_components(message, results)
            return self.weighted(components), components
        ctx = RewardContext(self.task, self.messages, self.turn, env=self, results=results)
        return self.rubric.score(ctx, "turn")

    def score_outcome(self) -> tuple[float, dict[str, float]]:
        """The episode's outcome reward and named components (through ``rubric`` when set)."""
        if self.rubric is None:
            components = self.outcome_components()
            return self.weighted(components), components
        return self.rubric.score(RewardContext(self.task, self.messages, self.turn, env=self), "outcome")

    def weighted(self, components: dict[str, float]) -> float:
        """The scalar reward of named components under ``reward_weights``."""
        return float(sum(self.reward_weights.get(k, 1.0) * v for k, v in components.items()))

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = []
        for m in self.messages:
            text = m.get("content") or ""
            for call in m.get("tool_calls") or []:
                text += f"\n  -> {call['function']['name']}({call['function']['arguments']})"
            lines.append(f"[{m['role']}] {text}")
        return "\n".join(lines)


def _copied(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars): messages are copied at every step,
    and ``copy.deepcopy`` costs several times more."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value
