"""Reward terms and their composition.

* ``rubric``: the contract: :class:`RewardContext`, :class:`RewardTerm`, :class:`Rubric`.
* ``terms``: built-in terms (answers, formats, tool calls, length, repetition, tests, state, info).
* ``answers``: numeric answers in free text (GSM8K-style extraction and normalisation).
* ``judge``: :class:`LLMJudge`, a model on any OpenAI-compatible endpoint as a reward term.
* ``bedrock``: Bedrock reward Lambdas both ways (:func:`lambda_handler`, :func:`lambda_term`).
* ``replay``: scoring a stored transcript without the env (``rftgym rescore``, the Lambda adapter).
"""

from rftgym.rewards.answers import extract_answer, find_numbers, normalize_number, numbers_match
from rftgym.rewards.bedrock import lambda_handler, lambda_term
from rftgym.rewards.judge import LLMJudge
from rftgym.rewards.rubric import RewardContext, RewardTerm, RewardTermError, Rubric, TermFn, TermResult
from rftgym.rewards.terms import (
    exact_match,
    has_tags,
    info_communicated,
    json_valid,
    length_penalty,
    numeric_match,
    regex_match,
    repetition_penalty,
    state_match,
    tool_call_errors,
    turn_count_penalty,
    unit_test_pass_rate,
)

__all__ = [
    "LLMJudge",
    "RewardContext",
    "RewardTerm",
    "RewardTermError",
    "Rubric",
    "TermFn",
    "TermResult",
    "exact_match",
    "extract_answer",
    "find_numbers",
    "has_tags",
    "info_communicated",
    "json_valid",
    "lambda_handler",
    "lambda_term",
    "length_penalty",
    "normalize_number",
    "numbers_match",
    "numeric_match",
    "regex_match",
    "repetition_penalty",
    "state_match",
    "tool_call_errors",
    "turn_count_penalty",
    "unit_test_pass_rate",
]
