"""Small helpers over differences between supported Python versions."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


async def within(awaitable: Awaitable[_T], seconds: float) -> _T:
    """Await ``awaitable`` or raise ``asyncio.TimeoutError`` after ``seconds``.

    On Python 3.11+ this is ``asyncio.timeout``, which, unlike ``asyncio.wait_for``, creates no
    extra task: the rollout loop pays this on every turn.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)
