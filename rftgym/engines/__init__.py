"""Generation engines of the online loop: where its samples come from and how new weights reach them.

* :class:`BuiltinEngine`: ``rftgym serve``'s transformers endpoint in this process (the default).
* :class:`VLLMEngine`: ``vllm serve`` replicas, launched as child processes or attached to by URL;
  weights reach them without restarts after every optimizer step.

Both follow :class:`~rftgym.engines.base.Engine`, the only thing the online loop knows of them.
Names are imported on first use, so ``import rftgym.engines`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rftgym._lazy import lazy_exports

if TYPE_CHECKING:
    from rftgym.engines.base import Engine, EngineError
    from rftgym.engines.builtin import BuiltinEngine
    from rftgym.engines.vllm import VLLMEngine

__all__ = ["BuiltinEngine", "Engine", "EngineError", "VLLMEngine"]

__getattr__ = lazy_exports(
    __name__,
    {"BuiltinEngine": "builtin", "Engine": "base", "EngineError": "base", "VLLMEngine": "vllm"},
)
