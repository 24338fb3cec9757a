"""Lazy package exports: a package names what it offers without importing the modules behind it.

``rftgym.models`` and ``rftgym.serving`` re-export names from modules that need torch,
transformers or aiohttp; importing the package (or a light module inside it, such as
``rftgym.models.chat``) must not pay for those. The package sets ``__getattr__ =
lazy_exports(__name__, {name: submodule})`` and imports its names under ``TYPE_CHECKING`` for
type checkers and readers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: ``name`` in ``exports`` is imported from
    ``package.<exports[name]>`` on first use; any other name raises AttributeError."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
