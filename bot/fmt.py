"""Formatting shared by every feature's texts: Discord timestamps, sizes, lists, cut-down text. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from bot.i18n import _

#: the most characters Discord takes in a message's content
MAX_CONTENT = 2000


def size(n: int) -> str:
    """Bytes for people: "9.5 MiB", "300 KiB"."""
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{max(n, 1) / 1024:.0f} KiB"


def relative(unix: float) -> str:
    """A Discord timestamp each reader sees in their own time zone ("in 3 minutes")."""
    return f"<t:{int(unix)}:R>"


def either(items: Iterable[str]) -> str:
    """``a``, ``a or b``, ``a or b or c``, in the language of the moment."""
    text = ""
    for item in items:
        text = _("{first} or {second}", first=text, second=item) if text else item
    return text


def clip_text(text: str, limit: int = MAX_CONTENT) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
