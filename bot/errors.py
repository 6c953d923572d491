"""Errors the bot shows to members."""

from __future__ import annotations


class UserFacingError(Exception):
    """Something the member can fix or should know; the message is safe to show them."""
