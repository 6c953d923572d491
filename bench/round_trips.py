"""Counting Redis round trips: every command, pipeline or script call the client sends is one.

A pipeline is sent as one packed write, and so is a single command or an EVALSHA, so counting
``send_packed_command`` calls counts the times a caller waits for Redis. Used by
``bench/bot.py`` and by the test that keeps a /video within its round-trip budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.connection import AbstractConnection


@dataclass
class RoundTrips:
    """Round trips seen while counting, with the first word of each (the command or ``MULTI``)."""

    commands: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.commands)


@contextlib.contextmanager
def counting() -> Iterator[RoundTrips]:
    """Count every round trip any asyncio Redis client in this process makes meanwhile."""
    seen = RoundTrips()
    original = AbstractConnection.send_packed_command

    async def send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        seen.commands.append(_first_word(command))
        await original(self, command, check_health)

    AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def _first_word(command: Any) -> str:
    """The command name at the head of a packed command (RESP), for reports."""
    raw = (
        command
        if isinstance(command, bytes | bytearray | memoryview)
        else b"".join(bytes(part) for part in command)
    )
    lines = bytes(raw).split(b"\r\n")
    return lines[2].decode(errors="replace").upper() if len(lines) > 2 else "?"
