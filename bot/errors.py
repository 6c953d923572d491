"""Errors the bot shows to members."""

from __future__ import annotations


class UserFacingError(Exception):
    """Something the member can fix or should know; the message is safe to show them.

    ``reason`` names the kind of refusal for the metrics (``limit``, ``filter``, ...).
    """

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason
