"""The reward contract: terms of a :class:`RewardContext`, combined by a :class:`Rubric`.

A reward term is a plain function ``fn(ctx) -> float | dict[str, float] | TermResult`` (a value
plus unweighted metrics). A :class:`RewardTerm` gives it a name, a weight and a scope: ``"turn"``
terms score every assistant turn, ``"outcome"`` terms score the finished episode once, ``"group"``
terms score the samples of one task together (applied by the rollout loop once a group is
complete, and by ``rftgym rescore``). Terms must not
change the context they are given (``ctx.messages`` is the env's own list, not a copy).
:meth:`Rubric.score` returns the scope's reward (the
weighted sum) and every component by name, so each lands in the trajectory file and a channel that
never moves, or moves the wrong way, shows in ``rftgym stats``::

    rubric = Rubric([
        RewardTerm("format", has_tags("answer"), weight=0.0, scope="outcome", gate=True),
        RewardTerm("answer_correct", numeric_match(), scope="outcome"),
        RewardTerm("invalid_tool_calls", tool_call_errors(), weight=-0.1),
    ])
    reward, components = rubric.score(ctx, "outcome")

A term that cannot give a value (a judge whose verdict is unreadable) raises
:class:`RewardTermError`: the rubric records ``"<name>/error": 1.0`` as a metric (it adds nothing)
and the term's own component is left out, so a failure never reads as a real 0.

A term that reads the live env (a database, a sandbox's test run) declares ``needs_env=True``.
Without the env (rescoring a stored file) such a term cannot be recomputed: :meth:`Rubric.score`
then takes its value from the components the file recorded (``kept``), and ``rftgym rescore``
names those terms before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rftgym.types import Message, Task, ToolResult, message_text

SCOPES = ("turn", "outcome", "group")


@dataclass
class RewardContext:
    """What a reward term sees.

    Attributes:
        task: The episode's task (``task.answer`` is the reference answer).
        messages: The conversation so far, OpenAI message dicts. Turn scope: up to and including
            the messages this turn caused (tool results, a user's reply). Outcome scope: the whole
            episode.
        turn: 1-based index of the assistant turn being scored (outcome scope: the last turn).
        env: The live env (its state: database, submitted answer...); None when rescoring a stored
            file. A term that reads it declares ``needs_env=True``.
        results: This turn's :class:`~rftgym.types.ToolResult` list (empty in outcome scope;
            rebuilt from the tool messages when rescoring).
        trajectory: The stored :class:`~rftgym.trajectories.Trajectory` when rescoring, else None.
    """

    task: Task
    messages: list[Message]
    turn: int
    env: Any = None
    results: list[ToolResult] = field(default_factory=list)
    trajectory: Any = None

    @property
    def assistant_message(self) -> Message | None:
        """The last assistant message (the turn being scored; in outcome scope the final one)."""
        # A slice, not reversed(): mypy infers reversed() of a list of Messages as Any.
        for message in self.messages[::-1]:
            if message.get("role") == "assistant":
                return message
        return None

    @property
    def response(self) -> str:
        """The text of :attr:`assistant_message` ("" when it has none)."""
        return message_text(self.assistant_message)


@dataclass
class TermResult:
    """A term's value plus metrics that are recorded (as ``<name>/<key>``) but never weighted,
    e.g. a judge's raw verdict or a Lambda's ``metrics_list``.

    Attributes:
        value: The term's value (``<name>``), weighted by the term's weight.
        metrics: Extra named numbers recorded next to it.
    """

    value: float
    metrics: dict[str, float] = field(default_factory=dict)


#: A term function: ``fn(ctx)`` -> a float, a dict of named floats (each weighted), or a TermResult.
TermFn = Callable[[RewardContext], "float | dict[str, float] | TermResult"]
#: A group-scope term function: the list of a group's outcome contexts -> one value per episode.
GroupTermFn = Callable[[list[RewardContext]], "Sequence[float | dict[str, float] | TermResult]"]


class RewardTermError(Exception):
    """Raised by a term that could not score (e.g. a judge's verdict was missing or out of range).
    The rubric records it as ``"<name>/error": 1.0`` instead of a value."""


@dataclass
class RewardTerm:
    """One named reward term.

    Attributes:
        name: The component name in trajectory files (a dict-valued term gives ``name/key``).
        fn: The term function.
        weight: Factor of its value in the reward; 0 records it as a metric only.
        scope: ``"turn"`` (every assistant turn), ``"outcome"`` (once, when the episode ends) or
            ``"group"`` (once per group of samples of one task, given all their outcome contexts,
            e.g. a judge ranking them against each other). Envs score turn and outcome terms as
            they play; group terms need the whole group, so the rollout loop applies them once a
            group is complete (and ``rftgym rescore`` again); their components join the outcome
            components.
        gate: When this term's value is <= 0 (any entry of a dict value, or an error), every other
            term of the scope adds 0 to the reward (their values are still recorded).
        needs_env: The term reads ``ctx.env`` (live env state) and cannot be recomputed from a
            stored transcript; rescoring keeps the value the file recorded.
    """

    name: str
    fn: TermFn | GroupTermFn
    weight: float = 1.0
    scope: str = "turn"
    gate: bool = False
    needs_env: bool = False

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"reward term {self.name!r}: scope must be one of {SCOPES}, got {self.scope!r}")


class Rubric:
    """A weighted combination of reward terms. Stateless: one rubric may score many envs at once."""

    def __init__(self, terms: Sequence[RewardTerm]):
        names = [t.name for t in terms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate reward term names: {duplicates}")
        self._terms = list(terms)

    def terms(self, scope: str | None = None) -> list[RewardTerm]:
        """The terms of ``scope`` (all of them when None), in declaration order."""
        return [t for t in self._terms if scope is None or t.scope == scope]

    def env_terms(self) -> list[str]:
        """Names of the terms that read the live env (``needs_env``): not recomputable from a file."""
        return [t.name for t in self._terms if t.needs_env]

    def score(
        self, ctx: RewardContext, scope: str, kept: dict[str, float] | None = None
    ) -> tuple[float, dict[str, float]]:
        """The reward of ``scope`` (``"turn"`` or ``"outcome"``) for ``ctx`` and its components
        ``{name: value}``.

        The reward is the sum of weight x value over the terms (each entry of a dict-valued term
        weighted by the term's weight), except that while a gate is closed only the gates count.
        When ``ctx.env`` is None, a ``needs_env`` term's value is read from ``kept`` (the
        components recorded when the episode was played) instead of calling it.
        """
        if scope not in ("turn", "outcome"):
            raise ValueError(f"score() takes scope 'turn' or 'outcome', got {scope!r}; use score_group()")
        outputs = []
        for term in self.terms(scope):
            if term.needs_env and ctx.env is None:
                outputs.append((term, _recorded(term.name, kept or {})))
            else:
                outputs.append((term, _attempt(term.fn, ctx)))
        return _combine(outputs)

    def score_group(self, contexts: Sequence[RewardContext]) -> list[tuple[float, dict[str, float]]]:
        """The group-scope reward and components of each episode of one group (``contexts``: their
        outcome contexts, in order). A group term must return one value per episode."""
        per_term = []
        for term in self.terms("group"):
            values = _attempt(term.fn, list(contexts))
            if not isinstance(values, RewardTermError) and len(values) != len(contexts):
                raise ValueError(f"group term {term.name!r} returned {len(values)} values for {len(contexts)} episodes")
            per_term.append((term, values))
        return [
            _combine([(term, v if isinstance(v, RewardTermError) else v[i]) for term, v in per_term])
            for i in range(len(contexts))
        ]

    def add_group_scores(self, episodes: Sequence[tuple[Task, Any]]) -> None:
        """Score the finished episodes of one group (``(task, trajectory)`` pairs) with the group
        terms, in place: each one's group components join its outcome components and its group
        reward its outcome reward and total. Used by ``rftgym rescore`` and by the rollout loop
        once a group is complete."""
        if not episodes or not self.terms("group"):
            return
        contexts = [RewardContext(task, traj.messages, len(traj.turns), trajectory=traj) for task, traj in episodes]
        for (_, traj), (reward, components) in zip(episodes, self.score_group(contexts), strict=True):
            traj.outcome_components = {**traj.outcome_components, **components}
            traj.outcome_reward += reward
            traj.reward += reward


def _attempt(fn: Callable[[Any], Any], arg: Any) -> Any:
    """``fn(arg)``: the term's return value, or the RewardTermError it raised."""
    try:
        return fn(arg)
    except RewardTermError as e:
        return e


def _recorded(name: str, kept: dict[str, float]) -> Any:
    """The output a ``needs_env`` term gave when it was played, rebuilt from its recorded
    components: ``name`` (plus ``name/<metric>`` metrics), or a dict-valued term's ``name/<key>``
    entries; a RewardTermError when it failed then or was not recorded."""
    prefix = f"{name}/"
    mine = {k[len(prefix) :]: v for k, v in kept.items() if k.startswith(prefix) and k != f"{name}/error"}
    if f"{name}/error" in kept:
        return RewardTermError(f"{name} failed when the episode was played")
    if name in kept:
        return TermResult(kept[name], mine)
    if mine:
        return mine
    return RewardTermError(f"{name} reads the live env and the file holds no value for it")


def _combine(outputs: list[tuple[RewardTerm, Any]]) -> tuple[float, dict[str, float]]:
    """Reward and components of the terms' outputs (values, or RewardTermError), gates applied."""
    components: dict[str, float] = {}
    weighted: list[tuple[RewardTerm, float]] = []
    gate_open = True
    for term, output in outputs:
        if isinstance(output, RewardTermError):
            components[f"{term.name}/error"] = 1.0
            gate_open = gate_open and not term.gate
            continue
        values, metrics = _split(term.name, output)
        components.update(values)
        components.update(metrics)
        weighted += [(term, v) for v in values.values()]
        if term.gate and any(v <= 0 for v in values.values()):
            gate_open = False
    reward = sum(term.weight * v for term, v in weighted if gate_open or term.gate)
    return float(reward), components


def _split(name: str, output: Any) -> tuple[dict[str, float], dict[str, float]]:
    """A term's output as (weighted components, metrics-only components)."""
    if isinstance(output, TermResult):
        metrics = {f"{name}/{k}": _number(f"{name}/{k}", v) for k, v in output.metrics.items()}
        return {name: _number(name, output.value)}, metrics
    if isinstance(output, dict):
        return {f"{name}/{k}": _number(f"{name}/{k}", v) for k, v in output.items()}, {}
    return {name: _number(name, output)}, {}


def _number(name: str, value: Any) -> float:
    """``value`` as a finite float (bools count as 0/1); anything else is a bug in the term."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"reward term {name!r} returned {value!r}; expected a finite number")
    return float(value)
