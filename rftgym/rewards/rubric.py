"""The reward contract: terms of a :class:`RewardContext`, combined by a :class:`Rubric`.

A reward term is a plain function ``fn(ctx) -> float | dict[str, float] | TermResult`` (a value
plus unweighted metrics). A :class:`RewardTerm` gives it a name, a weight and a scope: ``"turn"``
terms score every assistant turn, ``"outcome"`` terms score the finished episode once, ``"group"``
terms score the samples of one task together (applied by ``rftgym rescore``). Terms must not
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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rftgym.envs.tasks import Task

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
            file, so a term that reads env state needs a fallback from ``messages``.
        results: This turn's :class:`~rftgym.envs.tools.ToolResult` list (empty in outcome scope;
            rebuilt from the tool messages when rescoring).
        trajectory: The stored :class:`~rftgym.trajectories.Trajectory` when rescoring, else None.
    """

    task: Task
    messages: list[dict]
    turn: int
    env: Any = None
    results: list = field(default_factory=list)
    trajectory: Any = None

    @property
    def assistant_message(self) -> dict | None:
        """The last assistant message (the turn being scored; in outcome scope the final one)."""
        for message in reversed(self.messages):
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
#: Group-scope terms take the list of a group's outcome contexts and return one value per episode.
TermFn = Callable[[RewardContext], "float | dict[str, float] | TermResult"]


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
            they play; group terms need the whole group, so ``rftgym rescore`` applies them (their
            components join the outcome components).
        gate: When this term's value is <= 0 (any entry of a dict value, or an error), every other
            term of the scope adds 0 to the reward (their values are still recorded).
    """

    name: str
    fn: TermFn
    weight: float = 1.0
    scope: str = "turn"
    gate: bool = False

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

    def score(self, ctx: RewardContext, scope: str) -> tuple[float, dict[str, float]]:
        """The reward of ``scope`` (``"turn"`` or ``"outcome"``) for ``ctx`` and its components
        ``{name: value}``.

        The reward is the sum of weight x value over the terms (each entry of a dict-valued term
        weighted by the term's weight), except that while a gate is closed only the gates count.
        """
        if scope not in ("turn", "outcome"):
            raise ValueError(f"score() takes scope 'turn' or 'outcome', got {scope!r}; use score_group()")
        return _combine([(term, _attempt(term.fn, ctx)) for term in self.terms(scope)])

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


def _attempt(fn: Callable[[Any], Any], arg: Any) -> Any:
    """``fn(arg)``: the term's return value, or the RewardTermError it raised."""
    try:
        return fn(arg)
    except RewardTermError as e:
        return e


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


def message_text(message: dict | None) -> str:
    """The text of a message: its ``content`` string, or the joined text parts of a list content
    (``[{"type": "text", "text": ...}]``); "" when it has none."""
    content = message.get("content") if message else None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""
