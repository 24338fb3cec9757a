"""Wordle (``rftgym/Wordle-v0``): guess a hidden five-letter word with feedback after every guess."""

from rftgym.envs.wordle.env import WordleEnv, feedback

__all__ = ["WordleEnv", "feedback"]
