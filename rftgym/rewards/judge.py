"""LLM judges (RLAIF): a model behind any OpenAI-compatible endpoint scores responses on a rubric.

:class:`LLMJudge` is a reward term: ``RewardTerm("helpful", LLMJudge(url, model, criteria),
scope="outcome")`` grades the whole conversation, ``target="turn"`` the turn's last assistant
message (use it in turn scope). :meth:`LLMJudge.rank_group` is a group term that scores the samples
of one task against each other in a single request (``scope="group"``, applied by the rollout
loop once a group is complete, and by ``rftgym rescore``).

The judge answers in words and ends with ``SCORE: <number>`` on the rubric's scale; the term's value
is that number mapped to [0, 1]. A verdict that is missing, not a number or outside the scale, and
a request that still fails after the retries, raise :class:`~rftgym.rewards.RewardTermError`: the
rubric records ``<name>/error`` instead of a made-up 0. The raw verdict is kept as ``<name>/raw``.

Blocking: the calls are synchronous HTTP (the ``openai`` client, with its retries on connection
errors, timeouts, 429 and 5xx). That is fine inside an env: the rollout loop runs every
``env.step`` in a worker thread, so a slow judge delays only its own episode, never the loop. Give
``--concurrency`` enough headroom for the judge's latency.

Cache: scores are kept in memory keyed on the exact request (model, messages, sampling), so the
same judged input is never sent twice, e.g. when rescoring a file or judging identical samples.
Failed verdicts are not cached: a rescore asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from rftgym.rewards.rubric import RewardContext, RewardTermError, TermResult
from rftgym.types import Message, message_text

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

SYSTEM = (
    "You are a careful, impartial grader of an AI assistant's work. Judge only by the "
    "criteria you are given. Explain your reasoning briefly, then give your verdict."
)

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_SCORE = re.compile(rf"SCORE\s*[:=]\s*\**\s*({_NUMBER})(?!\d|\.\d)", re.IGNORECASE)
_SCORES = re.compile(r"SCORES\s*[:=]\s*(.+)", re.IGNORECASE)


class LLMJudge:
    """Scores a response with a model on a numeric scale. Thread-safe; one instance may serve many envs."""

    def __init__(
        self,
        base_url: str,
        model: str,
        criteria: str,
        *,
        scale: tuple[float, float] = (0, 10),
        target: str = "episode",
        show_reference: bool = True,
        api_key: str = "EMPTY",
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout: float = 120.0,
        max_retries: int = 3,
    ):
        """Args:
        base_url: The judge's OpenAI-compatible endpoint (``--judge-base-url``), e.g.
            ``http://localhost:8001/v1``.
        model: The judge model (``--judge-model``).
        criteria: What a good response is and how the scale's points read (the rubric prompt).
        scale: The lowest and highest score the judge may give; mapped to 0 and 1.
        target: ``"episode"``: grade the assistant's work over the whole conversation (outcome
            scope); ``"turn"``: grade the last assistant message, in the light of the
            conversation before it (turn scope).
        show_reference: Show the task's reference answer (``task.answer``) to the judge, when it has one.
        api_key: Sent to the endpoint.
        temperature: Sampling temperature of the judge (0: as repeatable as the server allows).
        max_tokens: Max tokens of one verdict.
        timeout: Seconds one request may take.
        max_retries: Retries of a request on connection errors, timeouts, 429 and 5xx.
        """
        if target not in ("episode", "turn"):
            raise ValueError(f"target must be 'episode' or 'turn', got {target!r}")
        if not scale[0] < scale[1]:
            raise ValueError(f"scale must be (low, high) with low < high, got {scale}")
        self.model, self.criteria, self.scale, self.target = model, criteria, scale, target
        self.show_reference, self.temperature, self.max_tokens = show_reference, temperature, max_tokens
        import openai  # here, not at the top: it takes most of a second, and most envs have no judge

        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self._request_errors = (openai.OpenAIError, ValueError)
        self.requests = 0  #: requests sent (cache misses)
        self._cache: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, criteria: str, **kwargs: Any) -> LLMJudge:
        """A judge on the endpoint named by ``RFTGYM_JUDGE_BASE_URL`` and ``RFTGYM_JUDGE_MODEL``
        (``rftgym rescore --judge-base-url URL --judge-model NAME`` sets them), so one rubric
        module serves any endpoint. ``RFTGYM_JUDGE_API_KEY`` is sent when set."""
        missing = [v for v in ("RFTGYM_JUDGE_BASE_URL", "RFTGYM_JUDGE_MODEL") if not os.environ.get(v)]
        if missing:
            raise ValueError(f"set {' and '.join(missing)} (or --judge-base-url / --judge-model) for the LLM judge")
        kwargs.setdefault("api_key", os.environ.get("RFTGYM_JUDGE_API_KEY", "EMPTY"))
        return cls(os.environ["RFTGYM_JUDGE_BASE_URL"], os.environ["RFTGYM_JUDGE_MODEL"], criteria, **kwargs)

    # ----- as reward terms -----

    def __call__(self, ctx: RewardContext) -> TermResult:
        """The judge's score of ``ctx`` in [0, 1] (raw verdict in ``metrics["raw"]``)."""
        [raw] = self._verdict(self.prompt(ctx), count=1)
        return TermResult(self._unit(raw), {"raw": raw})

    def rank_group(self, contexts: Sequence[RewardContext]) -> list[float]:
        """Group term: one request shows all the group's final conversations side by side and asks
        for a score for each; returns them mapped to [0, 1], in order."""
        return [self._unit(raw) for raw in self._verdict(self.group_prompt(contexts), count=len(contexts))]

    # ----- prompts -----

    def prompt(self, ctx: RewardContext) -> list[Message]:
        """The judge request's messages for one context."""
        low, high = _fmt(self.scale[0]), _fmt(self.scale[1])
        if self.target == "turn":
            head, what = transcript(ctx.messages[: _last_assistant(ctx.messages)]), "the assistant's LAST message below"
            body = f"## Conversation so far\n{head}\n\n## The message to grade\n{transcript([ctx.assistant_message or {}])}"
        else:
            what, body = (
                "the assistant's work in the conversation below",
                f"## Conversation\n{transcript(ctx.messages)}",
            )
        user = (
            f"Grade {what}.\n\n## Criteria\n{self.criteria}\n\n{self._reference(ctx)}{body}\n\n"
            f"End your answer with one line `SCORE: <number>`, a number from {low} to {high}."
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def group_prompt(self, contexts: Sequence[RewardContext]) -> list[Message]:
        """The judge request's messages comparing the samples of one group."""
        low, high = _fmt(self.scale[0]), _fmt(self.scale[1])
        samples = "\n\n".join(f"## Response {i}\n{transcript(c.messages)}" for i, c in enumerate(contexts, 1))
        user = (
            f"Below are {len(contexts)} responses to the same task. Grade each, comparing them with "
            f"each other: a better response gets a higher score.\n\n## Criteria\n{self.criteria}\n\n"
            f"{self._reference(contexts[0]) if contexts else ''}{samples}\n\nEnd your answer with one line "
            f"`SCORES: <s1>, <s2>, ...`: {len(contexts)} numbers from {low} to {high}, in the order above."
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _reference(self, ctx: RewardContext) -> str:
        answer = ctx.task.answer
        if not self.show_reference or answer is None:
            return ""
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return f"## Reference answer\n{text}\n\n"

    # ----- requests and verdicts -----

    def _verdict(self, messages: list[Message], count: int) -> list[float]:
        """The raw scores (``count`` of them) for a request, from the cache or the endpoint."""
        request: dict[str, Any] = {  # the cache key: exactly what is sent
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            self.requests += 1
        try:
            reply = self.client.chat.completions.create(
                model=self.model,
                # The system and user text messages of prompt() / group_prompt().
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            )
            text = reply.choices[0].message.content if reply.choices else None
        except self._request_errors as e:
            raise RewardTermError(f"judge request failed: {type(e).__name__}: {e}") from e
        scores = parse_scores(text or "", count, self.scale)
        with self._lock:
            self._cache[key] = scores
        return scores

    def _unit(self, raw: float) -> float:
        low, high = self.scale
        return (raw - low) / (high - low)


def parse_scores(text: str, count: int, scale: tuple[float, float]) -> list[float]:
    """The scores of a verdict: the number after its last ``SCORE:`` (``count`` = 1), or the
    ``count`` numbers after its last ``SCORES:``. A bare number is accepted as a whole verdict.
    Raises :class:`RewardTermError` when they are missing, not numbers, too few or too many, or
    outside ``scale``."""
    if count == 1 and not _SCORES.findall(text):  # a group of one may answer `SCORES: <s1>`
        found = _SCORE.findall(text) or ([text.strip()] if re.fullmatch(_NUMBER, text.strip()) else [])
        if not found:
            raise RewardTermError(f"no 'SCORE: <number>' in the verdict: {_clip(text)!r}")
        scores = [float(found[-1])]
    else:
        lines = _SCORES.findall(text)
        scores = [float(x) for x in re.findall(_NUMBER, lines[-1])] if lines else []
        if len(scores) != count:
            raise RewardTermError(f"expected 'SCORES:' with {count} numbers in the verdict: {_clip(text)!r}")
    low, high = scale
    for score in scores:
        if not low <= score <= high:
            raise RewardTermError(f"score {_fmt(score)} outside the scale {_fmt(low)}..{_fmt(high)}")
    return scores


def transcript(messages: Sequence[Message]) -> str:
    """A conversation as plain text for a judge: one ``ROLE: text`` block per message, tool calls
    as ``-> name(arguments)``."""
    blocks = []
    for m in messages:
        lines = [message_text(m)] if message_text(m) else []
        lines += [
            f"-> {c['function']['name']}({c['function'].get('arguments', '')})" for c in m.get("tool_calls") or []
        ]
        blocks.append(f"{str(m.get('role', '?')).upper()}: " + "\n".join(lines))
    return "\n\n".join(blocks)


def _last_assistant(messages: Sequence[Message]) -> int:
    return max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages))


def _fmt(x: float) -> str:
    return f"{x:g}"


def _clip(text: str, size: int = 200) -> str:
    return text if len(text) <= size else text[:size] + "..."
