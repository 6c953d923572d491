"""Choosing the event loop: uvloop when it is installed, else asyncio's own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, loop: str = "auto") -> T:
    """Run ``main`` to completion.

    Args:
        main: the coroutine to run.
        loop: ``"uvloop"``, ``"asyncio"``, or ``"auto"`` (uvloop when installed). uvloop
            roughly halves the queue's per-call overhead; it is in the bot and inference
            extras, and optional everywhere.

    Raises:
        ValueError: ``loop`` names an unknown loop.
        ModuleNotFoundError: ``loop="uvloop"`` and uvloop is not installed.
    """
    if loop not in {"auto", "uvloop", "asyncio"}:
        main.close()  # never started: close it so Python does not warn about it
        raise ValueError(f"unknown event loop {loop!r}: use auto, uvloop or asyncio")
    if loop != "asyncio":
        try:
            import uvloop
        except ModuleNotFoundError:
            if loop == "uvloop":
                raise
        else:
            return uvloop.run(main)
    return asyncio.run(main)
