"""What serving and training share about a model: chat-template rendering (``chat``), the
checkpoint folder convention (``checkpoints``) and the tiny locally built test model (``tiny``).

Names are imported on first use, so ``import rftgym.models.chat`` costs no torch import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rftgym._lazy import lazy_exports

if TYPE_CHECKING:
    from rftgym.models.chat import eos_token_ids, render_ids
    from rftgym.models.checkpoints import checkpoint_info, latest_checkpoint, write_marker
    from rftgym.models.logprobs import token_logprobs
    from rftgym.models.tiny import TINY, build_byte_tokenizer, build_tiny_model, resolve_model

__all__ = [
    "TINY",
    "build_byte_tokenizer",
    "build_tiny_model",
    "checkpoint_info",
    "eos_token_ids",
    "latest_checkpoint",
    "render_ids",
    "resolve_model",
    "token_logprobs",
    "write_marker",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "TINY": "tiny",
        "build_byte_tokenizer": "tiny",
        "build_tiny_model": "tiny",
        "checkpoint_info": "checkpoints",
        "eos_token_ids": "chat",
        "latest_checkpoint": "checkpoints",
        "render_ids": "chat",
        "resolve_model": "tiny",
        "token_logprobs": "logprobs",
        "write_marker": "checkpoints",
    },
)
