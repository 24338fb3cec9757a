"""Built-in reward terms. Each factory returns a term function ``fn(ctx) -> float | dict`` to wrap
in a :class:`~rftgym.rewards.RewardTerm` (which gives it its name, weight, scope and gate).

Conventions:

* Scores are in [0, 1], 1 = good (``numeric_match``, ``has_tags``, ``unit_test_pass_rate``...).
* Penalties return a non-negative magnitude, 0 = clean; give them a negative weight
  (``RewardTerm("invalid_tool_calls", tool_call_errors(), weight=-0.1)``).
* What is checked defaults to ``ctx.response`` (the text of the last assistant message) and the
  reference to ``ctx.task.answer``; pass ``response=`` / ``reference=`` functions of the context
  to check something else (a submitted tool argument, a field of the env's state).
* Env-specific checks (unit tests in a sandbox, a database) take the function that does the work,
  so the term stays generic: ``unit_test_pass_rate(lambda ctx: ctx.env.run_tests())``.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterable
from typing import Any

import jsonschema

from rftgym.rewards.answers import extract_answer, find_numbers, normalize_number, numbers_match
from rftgym.rewards.rubric import RewardContext, RewardTermError, TermFn
from rftgym.types import message_text

#: A function of the context giving the value a term checks (a response text, a reference...).
Getter = Callable[[RewardContext], Any]


def _response(ctx: RewardContext) -> str:
    return ctx.response


def _reference(ctx: RewardContext) -> Any:
    return ctx.task.answer


# ----- answers -----


def numeric_match(
    response: Getter | None = None, reference: Getter | None = None, rel_tol: float = 1e-6, abs_tol: float = 0.0
) -> TermFn:
    """1.0 when the number the response commits to (``#### X``, "the answer is X", ``\\boxed{X}``,
    else its last number; see :func:`~rftgym.rewards.extract_answer`) equals the reference within
    ``rel_tol`` / ``abs_tol``; ``$1,234.50``, ``1234.5`` and ``1,234.5 dollars`` are equal."""
    get, ref = response or _response, reference or _reference

    def fn(ctx: RewardContext) -> float:
        text, want = get(ctx), ref(ctx)
        predicted = extract_answer(text) if isinstance(text, str) else None
        return float(
            predicted is not None
            and want is not None
            and numbers_match(predicted, str(want), rel_tol=rel_tol, abs_tol=abs_tol)
        )

    return fn


def normalize_text(text: str) -> str:
    """Lower case, punctuation and the articles a/an/the removed, whitespace collapsed."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def exact_match(response: Getter | None = None, reference: Getter | None = None, normalize: bool = True) -> TermFn:
    """1.0 when the response equals the reference (a string, or a list of accepted strings);
    ``normalize`` compares them after :func:`normalize_text`, else after stripping whitespace."""
    get, ref = response or _response, reference or _reference
    canon = normalize_text if normalize else str.strip

    def fn(ctx: RewardContext) -> float:
        text, want = get(ctx), ref(ctx)
        accepted = want if isinstance(want, (list, tuple)) else [want]
        return float(isinstance(text, str) and canon(text) in {canon(str(a)) for a in accepted if a is not None})

    return fn


def regex_match(pattern: str, response: Getter | None = None, flags: int = 0) -> TermFn:
    """1.0 when ``pattern`` is found in the response (``re.search``)."""
    compiled, get = re.compile(pattern, flags), response or _response
    return lambda ctx: float(isinstance(text := get(ctx), str) and compiled.search(text) is not None)


# ----- output format -----


def has_tags(*tags: str, response: Getter | None = None) -> TermFn:
    """1.0 when the response holds every ``<tag>...</tag>`` pair named (e.g. ``has_tags("think",
    "answer")``), in any order; a good gate."""
    patterns = [re.compile(rf"<{re.escape(t)}>.*?</{re.escape(t)}>", re.DOTALL) for t in tags]
    get = response or _response
    return lambda ctx: float(isinstance(text := get(ctx), str) and all(p.search(text) for p in patterns))


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_json(text: str) -> Any:
    """The JSON value of ``text``: the whole text, else its last fenced (```json) block.
    Raises ValueError when neither parses."""
    for candidate in [text, *reversed(_FENCE.findall(text))]:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON value in the response")


def json_valid(schema: dict | None = None, response: Getter | None = None) -> TermFn:
    """1.0 when the response is JSON (the whole text or a fenced block) and, if ``schema`` is
    given, valid under that JSON schema."""
    validator = jsonschema.Draft202012Validator(schema) if schema is not None else None
    get = response or _response

    def fn(ctx: RewardContext) -> float:
        try:
            value = parse_json(get(ctx) or "")
        except ValueError:
            return 0.0
        return float(validator is None or validator.is_valid(value))

    return fn


# ----- behaviour -----


def tool_call_errors() -> TermFn:
    """Turn scope: how many of this turn's tool calls failed (bad JSON, unknown tool, bad
    arguments, an exception in the tool)."""
    return lambda ctx: float(sum(r.error is not None for r in ctx.results))


def _assistant_texts(ctx: RewardContext, episode: bool) -> list[str]:
    if not episode:
        return [ctx.response]
    return [message_text(m) for m in ctx.messages if m.get("role") == "assistant"]


def length_penalty(limit: int, unit: str = "chars", episode: bool = False) -> TermFn:
    """How far the response runs over ``limit`` ``unit``\\s (``"chars"`` or ``"words"``), as a
    fraction of ``limit``: 0 within it, 0.5 at 1.5x. ``episode=True`` counts every assistant
    message of the conversation (for outcome scope)."""
    if unit not in ("chars", "words"):
        raise ValueError(f"unit must be 'chars' or 'words', got {unit!r}")
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")

    def fn(ctx: RewardContext) -> float:
        texts = _assistant_texts(ctx, episode)
        size = sum(len(t) if unit == "chars" else len(t.split()) for t in texts)
        return max(0.0, (size - limit) / limit)

    return fn


def turn_count_penalty(free_turns: int = 1) -> TermFn:
    """Outcome scope: assistant turns beyond ``free_turns`` (0 for an episode of that many or fewer)."""
    return lambda ctx: float(max(0, ctx.turn - free_turns))


def repetition_penalty(n: int = 4, episode: bool = False) -> TermFn:
    """The fraction of word ``n``-grams of the response that repeat an earlier one (0 = none, near 1 =
    a loop). ``episode=True`` pools every assistant message, so repeating a whole turn counts too."""

    def fn(ctx: RewardContext) -> float:
        words = " ".join(_assistant_texts(ctx, episode)).lower().split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0

    return fn


# ----- env state -----


def unit_test_pass_rate(run_tests: Callable[[RewardContext], Any]) -> TermFn:
    """The fraction of unit tests passed. ``run_tests(ctx)`` runs them (e.g. in the env's sandbox,
    ``lambda ctx: ctx.env.grade``) and returns ``(passed, total)``, an object with ``passed``
    and ``total`` attributes, or None when there was nothing to run (no submission): 0. A run that
    reports no tests at all is recorded as an error, not as 0."""

    def fn(ctx: RewardContext) -> float:
        report = run_tests(ctx)
        if report is None:
            return 0.0
        passed, total = report if isinstance(report, tuple) else (report.passed, report.total)
        if total <= 0:
            raise RewardTermError("the test run reported no tests")
        return passed / total

    return fn


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def state_match(actual: Getter, expected: Getter, partial: bool = False) -> TermFn:
    """1.0 when ``actual(ctx)`` (e.g. the env's database after the episode) equals ``expected(ctx)``
    (e.g. the database after the reference actions), compared as JSON with sorted keys.
    ``partial=True`` gives the fraction of top-level keys (of both dicts) whose values agree."""

    def fn(ctx: RewardContext) -> float:
        got, want = actual(ctx), expected(ctx)
        if not partial:
            return float(_canonical(got) == _canonical(want))
        keys = set(got) | set(want)
        same = sum(k in got and k in want and _canonical(got[k]) == _canonical(want[k]) for k in keys)
        return same / len(keys) if keys else 1.0

    return fn


def _required_info(ctx: RewardContext) -> Iterable[Any]:
    return ctx.task.metadata.get("required_info", [])


def info_communicated(required: Getter | None = None, roles: tuple[str, ...] = ("assistant",)) -> TermFn:
    """The fraction of required pieces of information that the conversation's messages of ``roles``
    state (1.0 when nothing is required). ``required(ctx)`` lists them (default:
    ``task.metadata["required_info"]``); a text piece matches case-insensitively with whitespace and
    thousands separators ignored, a number matches any equal number in the text (``1234.5`` finds
    ``$1,234.50``)."""
    get = required or _required_info

    def fn(ctx: RewardContext) -> float:
        wanted = list(get(ctx))
        if not wanted:
            return 1.0
        said = " ".join(message_text(m) for m in ctx.messages if m.get("role") in roles)
        flat, numbers = _flatten(said), find_numbers(said)
        found = 0
        for item in wanted:
            value = normalize_number(str(item)) if isinstance(item, (int, float)) else None
            found += (value is not None and value in numbers) or _flatten(str(item)) in flat
        return found / len(wanted)

    return fn


def _flatten(text: str) -> str:
    return " ".join(re.sub(r"(?<=\d),(?=\d)", "", text.lower()).split())
