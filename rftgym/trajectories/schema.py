"""The trajectory file schema, ``rftgym.trajectory/1``: one episode per JSONL line.

Every field of :class:`Trajectory` and :class:`Turn` is written on every line (``None`` where
unknown), so ``datasets.load_dataset("json", data_files=...)`` reads the files as they are.

Typing rules that keep the files readable by Arrow (and so by ``datasets``):

* ``to_dict`` writes every float-typed value (rewards, reward components, latencies, timings) as a
  JSON float, even when the Python value was an ``int`` or a ``bool``: Arrow gives each column one
  type, and a component that is ``true`` on one line and ``0.5`` on the next cannot be read.
* ``from_dict`` checks every value against the field's type and names the first one that is wrong
  (``turns[2].reward_components.judge: expected number, got string 'high'``). Integers are accepted
  where a float is expected; booleans are not numbers there.
* Dicts keyed by name (reward components, ``tool_errors``, ``usage``, ``error``, ``policy``,
  ``metadata``) and tool schemas are written as they are, ``{}`` included. ``datasets`` turns a
  column whose keys or value types vary from line to line into a ``Json`` column and gives each
  dict back exactly as written; plain ``pyarrow.json`` makes a struct of the union of the keys
  instead, so there a key a line lacks reads back as null.

``datasets.load_dataset("json", data_files=path)`` infers the column types from the first 10 MB
of a file alone, and of several files from the first one. A field that is null all through that
part (``error`` in a run whose first failures come later), a component name first seen after it,
or another env's components in a later file, then fails the load ("Couldn't cast array of type
struct<...> to ..."). The file format is not the problem and stays as it is; pass
``features=hf_features()`` to read large files or any set of files together (other envs,
policies, errored runs, endpoints with or without token ids, messages with ``reasoning_content``):
it declares every column, with the free-form and name-keyed dicts as ``datasets.Json``.

``datasets`` (5.2) rewrites the lines of files with ``Json`` columns through pandas' ujson, which
keeps 10 decimal places of a float: rewards, latencies and timings come back rounded to 1e-10.
:func:`rftgym.trajectories.read_trajectories` gives the exact values.
"""

from __future__ import annotations

import copy
import functools
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from rftgym.types import Message, ToolSchema

SCHEMA = "rftgym.trajectory/1"


@dataclass
class Turn:
    """One assistant turn of an episode.

    Attributes:
        message_index: Index of the assistant message in ``Trajectory.messages``.
        reward: This turn's reward: the weighted sum of ``reward_components`` (no outcome part).
        reward_components: This turn's named reward components.
        tool_calls: How many tool calls the turn made.
        tool_errors: Malformed tool calls by kind (``invalid_json``, ``unknown_tool``,
            ``invalid_arguments``, ``tool_exception``).
        finish_reason: The endpoint's finish reason (``stop``, ``tool_calls``, ``length``...).
        prompt_token_ids: Token ids of the prompt as the endpoint tokenised it, when it says.
        completion_token_ids: Token ids the endpoint sampled, when it says.
        logprobs: Log-probability of each sampled token, when the endpoint gives them.
        usage: ``prompt_tokens`` and ``completion_tokens`` as the endpoint counted them.
        weights_version: The weights version the turn was sampled with, when the endpoint or
            engine says (the online loop's engines: the trainer step of those weights).
        policy_latency_s: Seconds spent waiting for the policy (retries included).
        env_latency_s: Seconds the env's ``step`` took.
    """

    message_index: int
    reward: float = 0.0
    reward_components: dict[str, float] = field(default_factory=dict)
    tool_calls: int = 0
    tool_errors: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: dict[str, int] | None = None
    weights_version: str | None = None
    policy_latency_s: float = 0.0
    env_latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (a deep copy), floats normalised (see the module doc)."""
        return _json_ready(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "turn") -> Turn:
        """Build from a parsed dict; raises ValueError naming the first missing or mistyped field.

        ``where`` prefixes the field names in error messages (``turns[3]``).
        """
        return cls(**_checked(cls, data, where, required=_TURN_REQUIRED))


@dataclass
class Trajectory:
    """One episode.

    Attributes:
        id: Episode id, unique within a file: ``<task_id>#<sample_index>``.
        run_id: The run that produced it.
        env_id: Gymnasium id of the env (``rftgym/MathTools-v0``).
        task_id: The task.
        group_id: Episodes of one group share it (the samples of one task, for GRPO and pass@k).
        sample_index: 0..group_size-1 within the group.
        policy: ``name``, ``model``, ``base_url``, ``sampling`` and ``weights_version``.
        messages: The whole conversation, OpenAI message dicts.
        tools: The OpenAI tool schemas the policy was offered.
        turns: One :class:`Turn` per assistant message.
        outcome_reward: Weighted sum of ``outcome_components`` (0 when the episode did not end).
        outcome_components: Named outcome reward components.
        reward: The total: sum of the turns' rewards plus the outcome reward.
        terminated: The task ended (see ``termination_reason``).
        truncated: A budget ran out (turns, time).
        termination_reason: Why the episode ended (``submitted``, ``max_turns``, ``error``...).
        error: ``{"type", "message"}`` when the episode failed (endpoint down, env exception), else None.
        timings: ``started_at`` (unix seconds), ``duration_s``, ``policy_s``, ``env_s``.
        metadata: Free-form (seed, split, env arguments...).
    """

    id: str
    run_id: str
    env_id: str
    task_id: str
    group_id: str
    sample_index: int
    policy: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    tools: list[ToolSchema] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    outcome_reward: float = 0.0
    outcome_components: dict[str, float] = field(default_factory=dict)
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    termination_reason: str | None = None
    error: dict[str, str] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    def to_dict(self, deep: bool = True) -> dict[str, Any]:
        """A JSON-ready dict of every field, ``schema`` first, floats normalised.

        ``deep=False`` shares the values instead of copying them (for serialising at once).
        """
        data = _json_ready(self, deep)
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        """Build from a parsed line; raises ValueError naming the first missing or mistyped field.

        Keys that are not fields are ignored (a newer writer may add fields).
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {_json_type(data)}")
        if "schema" not in data:
            raise ValueError(f"missing field 'schema' (expected {SCHEMA!r}): not an rftgym trajectory")
        if data["schema"] != SCHEMA:
            raise ValueError(f"schema is {data['schema']!r}, expected {SCHEMA!r}")
        known = _checked(cls, data, "", required=_REQUIRED)
        known["turns"] = [Turn.from_dict(t, f"turns[{i}]") for i, t in enumerate(known.get("turns", []))]
        return cls(**known)

    @property
    def num_turns(self) -> int:
        return len(self.turns)


def hf_features() -> Any:
    """The ``datasets.Features`` of a trajectory file, for ``load_dataset(..., features=...)``.

    Needed for files over ~10 MB and for several files read together (see the module doc). Dicts of free-form or named values
    (``policy``, ``messages``, ``tools``, reward components, ``usage``, ``error``...) are
    ``datasets.Json`` columns: each row gives back the dict as written.
    """
    import datasets  # optional dependency: only callers of this function need it

    columns = _hf_fields(Trajectory, datasets)
    return datasets.Features({"schema": columns.pop("schema"), **columns})  # the order of a line


_REQUIRED = {"id", "run_id", "env_id", "task_id", "group_id", "sample_index", "messages", "turns", "reward"}
_TURN_REQUIRED = {"message_index"}

# What Python types a JSON value of each declared scalar type may have. bool is a subclass of
# int in Python, so it is listed apart: a boolean is never an integer or a number here.
_ACCEPTS: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}
_JSON_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a dataclass (annotations are strings in this module), with
    the message and tool-schema TypedDicts read as the plain dicts they are in a file."""
    return {name: _plain(hint) for name, hint in typing.get_type_hints(cls).items()}


def _plain(hint: Any) -> Any:
    """``hint`` with every TypedDict replaced by ``dict``."""
    if typing.is_typeddict(hint):
        return dict
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list and args:
        return list[_plain(args[0])]  # type: ignore[misc]
    return hint


def _checked(cls: type, data: Any, where: str, required: set[str]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of ``cls``, each checked against its type.

    Unknown keys are dropped, since newer writers may add fields. A :class:`Turn` list is checked
    only as a list of objects here; :meth:`Turn.from_dict` checks each one.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'line'}: expected an object, got {_json_type(data)}")
    prefix = f"{where}." if where else ""
    missing = sorted(name for name in required if name not in data)
    if missing:
        raise ValueError(f"missing field(s): {', '.join(prefix + name for name in missing)}")
    hints = _hints(cls)
    known: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in data:
            hint = list[dict[str, Any]] if hints[f.name] == list[Turn] else hints[f.name]
            problem = _problem(data[f.name], hint, prefix + f.name)
            if problem:
                raise ValueError(problem)
            known[f.name] = data[f.name]
    return known


def _problem(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` does not match the type ``hint`` (one line naming ``where``), or None."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        # Descend into the option whose outer type matches, so an error inside a list or dict
        # names the element rather than saying "expected list of integer or null".
        for option in typing.get_args(hint):
            if _is_a(value, typing.get_origin(option) or option):
                return _problem(value, option, where)
        return _mismatch(value, hint, where)
    if not _is_a(value, origin):
        return _mismatch(value, hint, where)
    args = typing.get_args(hint)
    if origin is list and args and not _all_scalars(value, args[0]):
        return _items_problem(enumerate(value), args[0], where, "[{}]")
    if origin is dict and args:
        if not all(isinstance(k, str) for k in value):
            return f"{where}: keys must be strings"
        if args[1] is not Any and not _all_scalars(value.values(), args[1]):
            return _items_problem(value.items(), args[1], where, ".{}")
    return None


def _all_scalars(values: typing.Iterable[Any], hint: Any) -> bool:
    """A fast check that every value has an exact type ``hint`` accepts (token id lists are long)."""
    return hint in _ACCEPTS and {type(v) for v in values} <= set(_ACCEPTS[hint])


def _items_problem(items: typing.Iterable[tuple[Any, Any]], hint: Any, where: str, step: str) -> str | None:
    for key, item in items:
        problem = _problem(item, hint, where + step.format(key))
        if problem:
            return problem
    return None


def _is_a(value: Any, cls: Any) -> bool:
    if cls is type(None):
        return value is None
    if isinstance(value, bool) and cls is not bool:
        return False
    return isinstance(value, _ACCEPTS.get(cls, cls))


def _mismatch(value: Any, hint: Any, where: str) -> str:
    shown = "" if isinstance(value, (dict, list)) or value is None else f" {_short_repr(value)}"
    return f"{where}: expected {_describe(hint)}, got {_json_type(value)}{shown}"


def _describe(hint: Any) -> str:
    """A type in JSON words: ``list[int] | None`` -> ``array of integer or null``."""
    origin = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in args)
    if origin is list and args:
        return f"array of {_describe(args[0])}"
    if origin is dict and args and args[1] is not Any:
        return f"object of {_describe(args[1])}"
    return _JSON_NAMES.get(origin, getattr(origin, "__name__", str(origin)))


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_ready(obj: Turn | Trajectory, deep: bool = True) -> dict[str, Any]:
    """Every field of ``obj``, with ints and bools in float-typed values made floats.

    ``deep=True`` copies every value (faster than ``dataclasses.asdict``, which copies token id
    lists one element at a time); ``deep=False`` shares them, for a dict that is serialised at once.
    Raises ValueError when a float-typed value is not a number.
    """
    cls: type = type(obj)  # as ``type``: mypy takes type[Turn] for unhashable (Turn.__hash__ is None)
    data: dict[str, Any] = {}
    for name, hint in _hints(cls).items():
        value = getattr(obj, name)
        if hint in _SCALAR_LISTS:
            data[name] = list(value) if deep and value is not None else value
        elif hint is float:
            data[name] = _as_float(value, name)
        elif hint == dict[str, float] and isinstance(value, dict):
            data[name] = {k: _as_float(v, f"{name}.{k}") for k, v in value.items()}
        elif hint == list[Turn]:
            data[name] = [_json_ready(t, deep) if isinstance(t, Turn) else t for t in value]
        else:
            data[name] = copy.deepcopy(value) if deep else value
    return data


_SCALAR_LISTS = (list[int] | None, list[float] | None)


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, (int, float)):  # bool too: a component that is True is written as 1.0
        return float(value)
    raise ValueError(f"{where}: expected a number, got {_json_type(value)} {_short_repr(value)}")


def _hf_fields(cls: type, datasets: Any) -> dict[str, Any]:
    return {name: _hf_feature(hint, datasets) for name, hint in _hints(cls).items()}


def _hf_feature(hint: Any, datasets: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # X | None: every Arrow column is nullable
        return _hf_feature(next(a for a in args if a is not type(None)), datasets)
    if hint in _HF_SCALARS:
        return datasets.Value(_HF_SCALARS[hint])
    if origin is list and args[0] is Turn:
        return datasets.List(_hf_fields(Turn, datasets))
    if origin is list:
        return datasets.List(_hf_feature(args[0], datasets) if args[0] in _HF_SCALARS else datasets.Json())
    return datasets.Json()


_HF_SCALARS = {str: "string", int: "int64", float: "float64", bool: "bool"}
