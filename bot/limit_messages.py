"""What the bot says about limits: refusals and /limits. Pure functions, no I/O.

Every refusal names the limit, its numbers and when the member can try again, as a
Discord timestamp each reader sees in their own time zone.
"""

from __future__ import annotations

import json

from bot.fmt import relative
from bot.guildconfig import MemberPolicy
from bot.i18n import N_, _
from inference.jobqueue import Allowance, Limit, LimitReached

NOTHING_CHANGED = N_("Nothing you had queued was changed.")


def duration(seconds: float) -> str:
    """``3600`` -> ``1 hour``, ``90`` -> ``90 seconds``, ``1800`` -> ``30 minutes``."""
    seconds = round(seconds)
    for size, one, many in _UNITS:
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return _(one, count=n) if n == 1 else _(many, count=n)
    return _("{count} second", count=seconds) if seconds == 1 else _("{count} seconds", count=seconds)


#: units of :func:`duration`, largest first: seconds, then the text for one and for several
_UNITS = (
    (86400, N_("{count} day"), N_("{count} days")),
    (3600, N_("{count} hour"), N_("{count} hours")),
    (60, N_("{count} minute"), N_("{count} minutes")),
)


def videos(n: int) -> str:
    """``1 video``, ``3 videos``."""
    return _("{count} video", count=n) if n == 1 else _("{count} videos", count=n)


def refused_requests(n: int) -> str:
    """``1 refused request``, ``3 refused requests``."""
    return _("{count} refused request", count=n) if n == 1 else _("{count} refused requests", count=n)


def block_reason(detail: str) -> str:
    """The reason inside a block-list entry (stored as JSON; a bare string is accepted)."""
    try:
        entry = json.loads(detail)
    except ValueError:
        return detail
    return str(entry.get("reason", "")) if isinstance(entry, dict) else detail


def refusal_text(refusal: LimitReached, retry_at: float | None, period_seconds: float) -> str:
    """The message for a refused request.

    Args:
        refusal: what the queue refused, with its numbers.
        retry_at: when the member can try again (the refusal's own time, or an estimate).
        period_seconds: the rate limit's period, for the rate message.
    """
    used, cap = refusal.used, refusal.cap
    when = relative(retry_at) if retry_at else None
    limit = refusal.limit
    if limit == Limit.BLOCKED:
        reason = block_reason(refusal.detail) or _("no reason given")
        return _(
            "A moderator has blocked you from making videos on this server (reason: {reason}). "
            "If you think this is a mistake, ask a moderator.",
            reason=reason,
        )
    if limit == Limit.COOLDOWN:
        text = _(
            "You are on a cooldown after {requests} in a row; you can ask again {when}. "
            "Each request during the cooldown makes it longer.",
            requests=refused_requests(used),
            when=when,
        )
    elif limit == Limit.ACTIVE:
        # the bot always gives an estimate (LimitsService.explain); none only for other callers
        later = (
            _("Try again when one finishes, expected {when}.", when=when)
            if when
            else _("Try again when one finishes.")
        )
        text = " ".join(
            (
                _(
                    "You already have {videos} waiting or rendering; the limit on this server is {cap}.",
                    videos=videos(used),
                    cap=cap,
                ),
                later,
                _("/queue shows them."),
            )
        )
    elif limit == Limit.RATE:
        text = _(
            "You have asked for {videos} in the last {period}, the most this server allows. "
            "Your next one is allowed {when}.",
            videos=videos(cap),
            period=duration(period_seconds),
            when=when,
        )
    elif limit == Limit.MEMBER_DAILY:
        text = _(
            "You have had your {videos} for today. Your allowance starts again {when}.",
            videos=videos(cap),
            when=when,
        )
    elif limit == Limit.GUILD_DAILY:
        text = _(
            "This server has had its {videos} for today (failed and cancelled ones are not counted). "
            "The allowance starts again {when}.",
            videos=videos(cap),
            when=when,
        )
    else:
        full = (
            _(
                "This server's queue is full: {videos} waiting, and the limit is {cap}.",
                videos=videos(used),
                cap=cap,
            )
            if limit == Limit.GUILD_QUEUE
            else _(
                "Reelbot's queue is full: {videos} waiting, and the limit is {cap}.",
                videos=videos(used),
                cap=cap,
            )
        )
        later = (
            _("Try again {when}, when some have finished.", when=when)
            if when
            else _("Try again when some have finished.")
        )
        text = f"{full} {later}"
    if refusal.cooldown_until and limit != Limit.COOLDOWN:
        text += " " + _(
            "Too many refused requests in a row: you can ask again {when} at the earliest.",
            when=relative(refusal.cooldown_until),
        )
    return f"{text} {_(NOTHING_CHANGED)}"


def allowance_text(allowance: Allowance, policy: MemberPolicy) -> str:
    """``/limits``: what the member may still do, with the numbers."""
    lim = allowance.limits
    lines = []
    if allowance.blocked_reason is not None:
        lines.append(
            _(
                "⛔ A moderator has blocked you from making videos here (reason: {reason}).",
                reason=block_reason(allowance.blocked_reason) or _("no reason given"),
            )
        )
    if allowance.cooldown_until:
        lines.append(_("⏳ You are on a cooldown until {when}.", when=relative(allowance.cooldown_until)))
    if lim.exempt:
        lines.append(_("You are exempt from the per-member limits and the daily quotas."))
    else:
        if lim.rate:
            left, period = lim.rate - allowance.rate_used, duration(lim.rate_period)
            if allowance.rate_next_at:
                line = _(
                    "• Videos: {left} of {rate} left per {period}; the next one is allowed {when}.",
                    left=left,
                    rate=lim.rate,
                    period=period,
                    when=relative(allowance.rate_next_at),
                )
            else:
                line = _(
                    "• Videos: {left} of {rate} left per {period}.", left=left, rate=lim.rate, period=period
                )
            lines.append(line)
        else:
            lines.append(_("• Videos per hour: no limit."))
        if lim.active:
            lines.append(
                _("• Waiting or rendering: {active} of {limit}.", active=allowance.active, limit=lim.active)
            )
        if lim.member_daily:
            lines.append(
                _(
                    "• Your clips today: {used} of {limit} (starts again {when}).",
                    used=allowance.member_today,
                    limit=lim.member_daily,
                    when=relative(allowance.day_resets_at),
                )
            )
        if lim.guild_daily:
            lines.append(
                _(
                    "• This server's clips today: {used} of {limit} (starts again {when}).",
                    used=allowance.guild_today,
                    limit=lim.guild_daily,
                    when=relative(allowance.day_resets_at),
                )
            )
    if lim.guild_queue:
        lines.append(
            _(
                "• This server's queue: {waiting} of {limit} waiting.",
                waiting=allowance.guild_waiting,
                limit=lim.guild_queue,
            )
        )
    if policy.tiers:
        lines.append(_("Your roles with their own limits: {roles}.", roles=", ".join(policy.tiers)))
    return "\n".join(lines)
