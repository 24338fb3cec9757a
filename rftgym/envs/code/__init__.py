"""The code env: bundled problems and HumanEval (``tasks``), grading in a fresh sandbox with a
random verdict marker (``grading``), played by :class:`CodeSandboxEnv` (``rftgym/CodeSandbox-v0``)."""

from rftgym.envs.code.env import CodeSandboxEnv

__all__ = ["CodeSandboxEnv"]
