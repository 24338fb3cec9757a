"""The math env: generated arithmetic word problems (``problems``) and a safe calculator tool
(``calculator``), played by :class:`MathToolsEnv` (``rftgym/MathTools-v0``)."""

from rftgym.envs.math.env import MathToolsEnv

__all__ = ["MathToolsEnv"]
