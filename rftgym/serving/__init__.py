"""The built-in OpenAI-compatible endpoint (``rftgym serve``) backed by a transformers model.

Needs the ``train`` extra (torch, transformers). Names are imported on first use, so
``import rftgym.serving`` stays cheap. What the endpoint shares with the trainer (chat-template
rendering, checkpoints, the tiny test model) is in :mod:`rftgym.models`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rftgym._lazy import lazy_exports

if TYPE_CHECKING:
    from rftgym.serving.generation import Completion, Generator, SamplingParams
    from rftgym.serving.server import ModelServer, completion_message, serve_forever

__all__ = [
    "Completion",
    "Generator",
    "ModelServer",
    "SamplingParams",
    "completion_message",
    "serve_forever",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Completion": "generation",
        "Generator": "generation",
        "ModelServer": "server",
        "SamplingParams": "generation",
        "completion_message": "server",
        "serve_forever": "server",
    },
)
