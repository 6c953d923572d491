"""What the bot says about limits: refusals and /limits. Pure functions, no I/O.

Every refusal names the limit, its numbers and when the member can try again, as a
Discord timestamp each reader sees in their own time zone.
"""

from __future__ import annotations

import json

from bot.fmt import relative
from bot.guildconfig import MemberPolicy
from inference.jobqueue import Allowance, Limit, LimitReached

NOTHING_CHANGED = "Nothing you had queued was changed."


def duration(seconds: float) -> str:
    """``3600`` -> ``1 hour``, ``90`` -> ``90 seconds``, ``1800`` -> ``30 minutes``."""
    seconds = round(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


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
        reason = block_reason(refusal.detail) or "no reason given"
        return (
            f"A moderator has blocked you from making videos on this server (reason: {reason}). "
            "If you think this is a mistake, ask a moderator."
        )
    if limit == Limit.COOLDOWN:
        text = (
            f"You are on a cooldown after {plural(used, 'refused request')} in a row; "
            f"you can ask again {when}. Each request during the cooldown makes it longer."
        )
    elif limit == Limit.ACTIVE:
        after = f", expected {when}" if when else ""
        text = (
            f"You already have {plural(used, 'video')} waiting or rendering; "
            f"the limit on this server is {cap}. Try again when one finishes{after}. /queue shows them."
        )  # the bot always gives an estimate (LimitsService.explain); "" only for other callers
    elif limit == Limit.RATE:
        text = (
            f"You have asked for {plural(cap, 'video')} in the last {duration(period_seconds)}, "
            f"the most this server allows. Your next one is allowed {when}."
        )
    elif limit == Limit.MEMBER_DAILY:
        text = f"You have had your {plural(cap, 'video')} for today. Your allowance starts again {when}."
    elif limit == Limit.GUILD_DAILY:
        text = (
            f"This server has had its {plural(cap, 'video')} for today (failed and cancelled ones are not "
            f"counted). The allowance starts again {when}."
        )
    else:
        where = "This server's queue" if limit == Limit.GUILD_QUEUE else "Reelbot's queue"
        later = (
            f"Try again {when}, when some have finished." if when else "Try again when some have finished."
        )
        text = f"{where} is full: {plural(used, 'video')} waiting, and the limit is {cap}. {later}"
    if refusal.cooldown_until and limit != Limit.COOLDOWN:
        text += (
            f" Too many refused requests in a row: you can ask again {relative(refusal.cooldown_until)} "
            "at the earliest."
        )
    return f"{text} {NOTHING_CHANGED}"


def allowance_text(allowance: Allowance, policy: MemberPolicy) -> str:
    """``/limits``: what the member may still do, with the numbers."""
    lim = allowance.limits
    lines = []
    if allowance.blocked_reason is not None:
        lines.append(
            f"⛔ A moderator has blocked you from making videos here (reason: "
            f"{block_reason(allowance.blocked_reason) or 'no reason given'})."
        )
    if allowance.cooldown_until:
        lines.append(f"⏳ You are on a cooldown until {relative(allowance.cooldown_until)}.")
    if lim.exempt:
        lines.append("You are exempt from the per-member limits and the daily quotas.")
    else:
        if lim.rate:
            left = lim.rate - allowance.rate_used
            line = f"• Videos: {left} of {lim.rate} left per {duration(lim.rate_period)}"
            if allowance.rate_next_at:
                line += f"; the next one is allowed {relative(allowance.rate_next_at)}"
            lines.append(line + ".")
        else:
            lines.append("• Videos per hour: no limit.")
        if lim.active:
            lines.append(f"• Waiting or rendering: {allowance.active} of {lim.active}.")
        if lim.member_daily:
            lines.append(
                f"• Your clips today: {allowance.member_today} of {lim.member_daily} "
                f"(starts again {relative(allowance.day_resets_at)})."
            )
        if lim.guild_daily:
            lines.append(
                f"• This server's clips today: {allowance.guild_today} of {lim.guild_daily} "
                f"(starts again {relative(allowance.day_resets_at)})."
            )
    if lim.guild_queue:
        lines.append(f"• This server's queue: {allowance.guild_waiting} of {lim.guild_queue} waiting.")
    if policy.tiers:
        lines.append(f"Your roles with their own limits: {', '.join(policy.tiers)}.")
    return "\n".join(lines)
