"""The chat environment contract: a Gymnasium env whose observations and actions are chat messages.

One episode is one conversation about one :class:`~rftgym.types.Task`:

* ``reset(seed=None, options={"task": task_or_id})`` returns ``(messages, info)``: the opening
  messages (system prompt, first user message); ``info`` is a :class:`~rftgym.types.ResetInfo`
  (``task_id``, ``split``, ``tools``: the OpenAI tool schemas to send with every request).
* ``step(action)`` takes one assistant message (content and/or ``tool_calls``) and returns
  ``(messages, reward, terminated, truncated, info)``:

  - ``messages``: the new messages the action caused (tool results, then e.g. a user's reply).
  - ``reward``: this turn's reward plus, on the final step, the outcome reward, so the step
    rewards of an episode sum to its return (Gymnasium's convention).
  - ``terminated``: the task ended (an answer was submitted, the user stopped, a transfer...).
  - ``truncated``: a budget ran out (``max_turns``). Both are never true together.
  - ``info``: a :class:`~rftgym.types.StepRecord` (read it back with ``StepRecord.from_info``):
    the turn's own reward and named components, tool calls and malformed calls by kind, and on
    the final step the :class:`~rftgym.types.Outcome` (reward, components, termination reason).

A new env subclasses :class:`ChatEnv`, declares tools as ``@tool`` methods, sets ``rubric`` (its
reward terms, :class:`~rftgym.rewards.Rubric`) and fills in the hooks below (``tasks``, ``react``,
``oracle_action``). Every reward comes from the rubric: a term that needs the env's state reads
``ctx.env`` and declares ``needs_env=True``.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from rftgym.envs.spaces import MessageListSpace, MessageSpace, message_problem
from rftgym.envs.tools import Toolbox
from rftgym.rewards.rubric import RewardContext, Rubric
from rftgym.types import Message, Outcome, ResetInfo, StepRecord, Task, ToolResult, message_text


class ChatEnv(gymnasium.Env[list[Message], Message]):
    """Base class of every rftgym environment. See the module docstring for the contract."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    #: Task splits this env offers; the first one is where ``reset()`` without a task draws from.
    splits: tuple[str, ...] = ("train", "test")
    #: The env's reward terms (turn and outcome scope). Every env sets one, on the class or in
    #: ``__init__`` (``reset`` refuses to start an episode without it).
    rubric: Rubric
    #: Custom resources a cluster node must offer to host a worker that plays this env (a Ray
    #: executor asks each rollout worker for them): ``{"docker": 1}`` for an env that runs
    #: containers, so its workers land on nodes with a Docker engine.
    worker_resources: dict[str, float] = {}  # read, never mutated

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
        self.messages: list[Message] = []
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

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        """After the tools ran: the further messages this turn causes (e.g. a user's reply) and
        the termination reason if the task has now ended, else None."""
        return [], None

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """The reference solution's next assistant message after ``messages`` (the episode so
        far) of ``task``, for the ``oracle`` validation policy. A pure function of its arguments:
        it reads no episode state, so one env instance answers for any number of episodes.
        Every built-in env provides one."""
        raise NotImplementedError(f"{type(self).__name__} has no oracle")

    # ----- the Gymnasium API -----

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[Message], dict[str, Any]]:
        super().reset(seed=seed)
        if not isinstance(getattr(self, "rubric", None), Rubric):
            raise TypeError(f"{type(self).__name__} has no rubric: set `rubric = Rubric([...])` on the env")
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
        info = ResetInfo(task.id, task.split, self.toolbox.schemas)
        return _copied(self.messages), info.to_info()

    def sample_task(self) -> Task:
        """The task of a ``reset()`` without one: drawn with the env's seeded RNG from the first split."""
        pool = self.tasks(self.splits[0])
        return pool[int(self.np_random.integers(len(pool)))]

    def step(self, action: Message) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
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
        ctx = RewardContext(self.task, self.messages, self.turn, env=self, results=results)
        reward, components = self.rubric.score(ctx, "turn")
        errors: dict[str, int] = {}
        for r in results:
            if r.error:
                errors[r.error] = errors.get(r.error, 0) + 1
        record = StepRecord(self.turn, reward, components, len(results), errors)
        terminated = reason is not None
        truncated = not terminated and self.turn >= self.max_turns
        if terminated or truncated:
            outcome_ctx = RewardContext(self.task, self.messages, self.turn, env=self)
            record.outcome = Outcome(*self.rubric.score(outcome_ctx, "outcome"), reason or "max_turns")
        return _copied(new), record.total_reward, terminated, truncated, record.to_info()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = []
        for m in self.messages:
            text = message_text(m)
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
