"""Formatting shared by every feature's texts: Discord timestamps, sizes, cut-down text. Pure."""

from __future__ import annotations

#: the most characters Discord takes in a message's content
MAX_CONTENT = 2000


def size(n: int) -> str:
    """Bytes for people: "9.5 MiB", "300 KiB"."""
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{max(n, 1) / 1024:.0f} KiB"


def relative(unix: float) -> str:
    """A Discord timestamp each reader sees in their own time zone ("in 3 minutes")."""
    return f"<t:{int(unix)}:R>"


def clip_text(text: str, limit: int = MAX_CONTENT) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
