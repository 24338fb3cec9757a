"""The built-in OpenAI-compatible endpoint (``rftgym serve``) backed by a transformers model,
and the tiny locally built model that tests and the demo serve.

Needs the ``train`` extra (torch, transformers).
"""

from rftgym.agents.text_tools import parse_tool_calls
from rftgym.serving.checkpoints import checkpoint_info, latest_checkpoint
from rftgym.serving.generation import Completion, Generator, SamplingParams
from rftgym.serving.server import ModelServer, eos_token_ids, render_ids, serve_forever
from rftgym.serving.tiny import TINY, build_tiny_model, resolve_model

__all__ = [
    "TINY",
    "Completion",
    "Generator",
    "ModelServer",
    "SamplingParams",
    "build_tiny_model",
    "checkpoint_info",
    "eos_token_ids",
    "latest_checkpoint",
    "parse_tool_calls",
    "render_ids",
    "resolve_model",
    "serve_forever",
]
