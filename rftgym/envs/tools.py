"""Tools: typed Python functions with docstrings, exposed to the model as OpenAI function schemas.

Declare a tool with ``@tool`` on a method of a :class:`~rftgym.envs.ChatEnv` subclass (it gets the
env as ``self``, so it can read and change episode state) or on a plain function::

    @tool
    def calculator(self, expression: str) -> str:
        \"\"\"Evaluate an arithmetic expression.

        Args:
            expression: The expression, e.g. "12 * (3 + 4)".
        \"\"\"

The schema comes from the signature (types, defaults) and the docstring (the summary and the
``Args:`` section). :meth:`Toolbox.call` validates the model's arguments against that schema before
calling; every failure becomes a :class:`ToolResult` whose message tells the model what was wrong.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import jsonschema

from rftgym.types import Message, ToolCall, ToolErrorKind, ToolResult, ToolSchema

F = TypeVar("F", bound=Callable[..., Any])

#: The longest ``arguments`` string a tool call may have (1 MB of text); a longer one is an
#: ``invalid_arguments`` error, not decoded.
MAX_ARGUMENTS_CHARS = 1_000_000

#: The attribute ``@tool`` sets on a function, which :meth:`Toolbox.of` looks for.
_TOOL_MARK = "__rftgym_tool__"


def tool(fn: F) -> F:
    """Mark ``fn`` (a function or an env method) as a tool the model can call."""
    setattr(fn, _TOOL_MARK, True)  # a plain assignment is an attr-defined error for a Callable
    return fn


def _json_type(annotation: Any) -> dict[str, Any]:
    """The JSON schema of one Python type annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (inspect.Parameter.empty, Any):
        return {}
    if origin in (typing.Union, types.UnionType):
        options = [_json_type(a) for a in args if a is not type(None)]
        if len(options) == 1:
            return options[0]
        if all(list(o) == ["type"] for o in options):  # str | float -> {"type": ["string", "number"]}
            return {"type": [o["type"] for o in options]}
        return {"anyOf": options}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, Iterable) or annotation in (list, tuple):
        return {"type": "array", **({"items": _json_type(args[0])} if args else {})}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return {"type": simple[annotation]}
    raise TypeError(
        f"tool argument type {annotation!r} has no JSON schema; use str, int, float, bool, list, dict or Literal"
    )


def _docstring_parts(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and the ``Args:`` descriptions."""
    doc = inspect.cleandoc(doc or "")
    head, _, rest = doc.partition("\nArgs:")
    args: dict[str, str] = {}
    name = None
    for line in rest.splitlines():
        if line.strip() and not line.startswith((" ", "\t")):
            break  # the next section (Returns:, ...) starts
        match = re.match(r"\s+(\w+)(?:\s*\(.*?\))?:\s*(.*)", line)
        if match:
            name, args[match[1]] = match[1], match[2].strip()
        elif name and line.strip():
            args[name] += " " + line.strip()
    return " ".join(head.split()), args


@dataclass
class Tool:
    """One callable tool: its function, its OpenAI schema and a compiled argument validator."""

    name: str
    fn: Callable[..., Any]
    schema: ToolSchema
    validator: jsonschema.protocols.Validator
    float_args: tuple[str, ...]

    @classmethod
    def from_function(cls, fn: Callable[..., Any]) -> Tool:
        """Build the tool from ``fn``'s signature and docstring (``self`` is skipped)."""
        description, arg_docs = _docstring_parts(fn.__doc__ or "")
        hints = typing.get_type_hints(fn)
        properties, required, float_args = {}, [], []
        for pname, param in inspect.signature(fn).parameters.items():
            if pname == "self":
                continue
            annotation = hints.get(pname, param.annotation)
            properties[pname] = _json_type(annotation)
            if pname in arg_docs:
                properties[pname]["description"] = arg_docs[pname]
            if param.default is inspect.Parameter.empty:
                required.append(pname)
            if annotation is float:
                float_args.append(pname)
        parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        schema: ToolSchema = {
            "type": "function",
            "function": {"name": fn.__name__, "description": description, "parameters": parameters},
        }
        validator = jsonschema.Draft202012Validator(parameters)
        return cls(fn.__name__, fn, schema, validator, tuple(float_args))


class Toolbox:
    """The tools of one env. ``schemas`` go to the model; ``call`` runs one tool call safely."""

    def __init__(self, tools: Iterable[Tool]):
        self.tools = {t.name: t for t in tools}

    @classmethod
    def of(cls, owner: Any, extra: Iterable[Callable[..., Any]] = ()) -> Toolbox:
        """Collect the ``@tool`` methods of ``owner``'s class (bound to ``owner``) and ``extra`` functions."""
        found = []
        for name, member in inspect.getmembers(type(owner)):
            if getattr(member, _TOOL_MARK, False):
                found.append(Tool.from_function(member))
                found[-1].fn = getattr(owner, name)
        found += [Tool.from_function(fn) for fn in extra]
        return cls(found)

    @property
    def schemas(self) -> list[ToolSchema]:
        return [json.loads(json.dumps(t.schema)) for t in self.tools.values()]

    def call(self, tool_call: ToolCall | dict[str, Any]) -> ToolResult:
        """Run one OpenAI ``tool_calls`` entry. Never raises: failures become error tool messages,
        also for an entry that is not an object, arguments over :data:`MAX_ARGUMENTS_CHARS` or
        nested too deep to decode."""
        if not isinstance(tool_call, dict):
            tool_call = {}
        call_id = tool_call.get("id")
        call_id = call_id if isinstance(call_id, str) else ""
        function = tool_call.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")

        def fail(kind: ToolErrorKind, text: str) -> ToolResult:
            return ToolResult(_tool_message(call_id, name, f"Error: {text}"), kind)

        if not isinstance(name, str) or name not in self.tools:
            known = ", ".join(self.tools) or "none"
            return fail("unknown_tool", f"there is no tool named {name!r}. Available tools: {known}.")
        raw = function.get("arguments") or "{}"
        if isinstance(raw, str) and len(raw) > MAX_ARGUMENTS_CHARS:
            return fail(
                "invalid_arguments",
                f"the arguments of {name} are {len(raw)} characters long, over the limit of {MAX_ARGUMENTS_CHARS}.",
            )
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as e:
            return fail("invalid_json", f"the arguments of {name} are not valid JSON ({e.msg} at position {e.pos}).")
        except RecursionError:
            return fail("invalid_json", f"the arguments of {name} are nested too deep to decode.")
        if not isinstance(args, dict):
            return fail("invalid_json", f"the arguments of {name} must be a JSON object, got {type(args).__name__}.")
        target = self.tools[name]
        error = jsonschema.exceptions.best_match(target.validator.iter_errors(args))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            return fail(
                "invalid_arguments",
                f"bad arguments for {name}: {error.message}" + (f" (at {where})" if where else "") + ".",
            )
        for pname in target.float_args:
            if pname in args:
                args[pname] = float(args[pname])
        try:
            value = target.fn(**args)
        except Exception as e:  # the tool's own failure is news for the model, not a crash of the episode
            return fail("tool_exception", f"{name} failed: {type(e).__name__}: {e}")
        content = value if isinstance(value, str) else json.dumps(value)
        return ToolResult(_tool_message(call_id, target.name, content), None, value)


def _tool_message(call_id: str, name: object, content: str) -> Message:
    """The tool message answering the call ``call_id``. A malformed call's ``name`` that is not
    a string (missing, null) is left out: a message's ``name`` is a string or absent."""
    message: Message = {"role": "tool", "tool_call_id": call_id}
    if isinstance(name, str):
        message["name"] = name
    message["content"] = content
    return message
