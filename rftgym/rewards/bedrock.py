"""Amazon Bedrock / Nova reinforcement fine-tuning compatibility: reward Lambdas, both ways.

A Bedrock RFT reward Lambda receives a list of samples and returns one score per sample::

    event  = [{"id": "s1", "messages": [...], "metadata": {"reference_answer": ...}}, ...]
    return   [{"id": "s1", "aggregate_reward_score": 0.9,
               "metrics_list": [{"name": "answer_correct", "value": 1.0, "type": "Reward"}, ...]}, ...]

(``reference_answer`` may also sit at the top level of a sample, as in the training dataset.)

* :func:`lambda_handler` exposes any :class:`~rftgym.rewards.Rubric` as such a handler, so a
  reward written here deploys to Lambda unchanged (``handler = lambda_handler(RUBRIC)`` in the
  Lambda's module).
* :func:`lambda_term` runs such a handler locally as a reward term, so a Lambda written for
  Bedrock scores rftgym episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rftgym.rewards.replay import score_transcript
from rftgym.rewards.rubric import RewardContext, Rubric, TermResult
from rftgym.types import Task, message_text

#: ``handler(event, context) -> list of results``, the shape of a Bedrock reward Lambda.
Handler = Callable[[Any, Any], list[dict]]


def reference_answer(sample: dict) -> Any:
    """A sample's reference answer: ``metadata.reference_answer``, else top-level ``reference_answer``."""
    metadata = sample.get("metadata") or {}
    return metadata["reference_answer"] if "reference_answer" in metadata else sample.get("reference_answer")


def lambda_handler(rubric: Rubric) -> Handler:
    """A Bedrock reward-Lambda handler scoring each sample with ``rubric``.

    Each sample becomes a task (``answer`` = its reference answer, ``metadata`` = its metadata)
    whose conversation is scored as rftgym scores an episode (every assistant turn, then the
    outcome). ``aggregate_reward_score`` is the total reward; ``metrics_list`` lists every
    component, turn components summed over the turns, with ``type`` ``"Reward"`` for the
    components of weighted terms and ``"Metric"`` for those of weight-0 terms and for errors. The event may be a list of samples,
    one sample, or ``{"samples": [...]}``.
    """
    weights = {term.name: term.weight for term in rubric.terms()}

    def handler(event: Any, context: Any = None) -> list[dict]:
        samples = event.get("samples", [event]) if isinstance(event, dict) else event
        results = []
        for sample in samples:
            messages = sample.get("messages") or []
            prompt = next((message_text(m) for m in messages if m.get("role") == "user"), "")
            task = Task(
                id=str(sample.get("id", "")),
                split="lambda",
                prompt=prompt,
                answer=reference_answer(sample),
                metadata=dict(sample.get("metadata") or {}),
            )
            scored = score_transcript(rubric, task, messages)
            totals: dict[str, float] = {}
            for _, components in [*scored.turns, *([scored.outcome] if scored.outcome else [])]:
                for name, value in components.items():
                    totals[name] = totals.get(name, 0.0) + value
            metrics = [
                {"name": name, "value": value, "type": _metric_type(name, weights)} for name, value in totals.items()
            ]
            results.append({"id": sample.get("id"), "aggregate_reward_score": scored.total, "metrics_list": metrics})
        return results

    return handler


def lambda_term(handler: Handler) -> Callable[[RewardContext], TermResult]:
    """A reward term that scores the conversation with a Bedrock-style reward Lambda ``handler``
    (use it in outcome scope). Its value is the handler's ``aggregate_reward_score``; the entries of
    its ``metrics_list`` are recorded as metrics (``<term>/<metric name>``), not weighted.

    The sample sent is ``{"id": task id, "messages": the conversation, "reference_answer":
    task.answer, "metadata": {**task.metadata, "reference_answer": task.answer}}``.
    """

    def fn(ctx: RewardContext) -> TermResult:
        answer = ctx.task.answer
        sample = {
            "id": ctx.task.id,
            "messages": ctx.messages,
            "reference_answer": answer,
            "metadata": {**ctx.task.metadata, "reference_answer": answer},
        }
        [result] = handler([sample], None)
        metrics = {m["name"]: float(m["value"]) for m in result.get("metrics_list") or []}
        return TermResult(float(result["aggregate_reward_score"]), metrics)

    return fn


def _metric_type(component: str, weights: dict[str, float]) -> str:
    term, _, key = component.partition("/")
    return "Reward" if weights.get(term, 0.0) and key != "error" else "Metric"
