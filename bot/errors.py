"""What can go wrong on the bot's side, split by who must act.

::

    UserFacingError        the member can fix it or should know; the message is safe to show them
     ├── Refused           the request pipeline refused a request (a limit, the filter, a setting)
     └── NotAllowed        the access policy refused an action (not theirs, not a moderator)

Anything else raised while handling an interaction is a bug: the error funnel
(:mod:`bot.funnel`) logs it with a reference and tells the member that reference.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """Something the member can fix or should know; the message is safe to show them.

    Args:
        message: what happened and what to do next.
        reason: the kind of refusal, for the metrics (``limit``, ``filter``, ``access``, ...).
        appeal_id: a refusal the member may appeal (the funnel adds an Appeal button).
    """

    def __init__(self, message: str, *, reason: str = "other", appeal_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.appeal_id = appeal_id


class Refused(UserFacingError):
    """The request pipeline refused a request; nothing was queued and nothing queued was touched."""


class NotAllowed(UserFacingError):
    """The access policy refused an action: unknown here, not the member's, or not a moderator's."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="access")
