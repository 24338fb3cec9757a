"""Reward terms. Numeric answer matching with GSM8K-style normalisation lives in ``answers``."""

from rftgym.rewards.answers import extract_answer, normalize_number, numbers_match

__all__ = ["extract_answer", "normalize_number", "numbers_match"]
