"""Member limits the queue enforces atomically when it admits a job.

The bot decides each member's limits (guild settings, role tiers, exemptions) and hands
them to :meth:`JobQueue.enqueue`; the queue judges and takes them in the same Lua script
that queues the job (``lua/admission.lua``), so 100 concurrent requests from one member
admit exactly as many as the limits allow. What an admitted job takes is given back when
it ends: its place among the member's active jobs always, its daily-quota hold unless it
succeeded, in which case the bot charges it when the clip is posted (:meth:`JobQueue.settle`).
"""

from __future__ import annotations

import enum
import functools
import json
import math
from dataclasses import asdict, dataclass
from typing import Final

#: seconds in a quota day; days are UTC days, numbered from the Unix epoch
DAY_SECONDS = 86400


class Limit(enum.StrEnum):
    """Which limit refused a request, in the order they are checked."""

    BLOCKED = "blocked"  # a moderator blocked the member from the bot
    COOLDOWN = "cooldown"  # too many refusals in a row
    ACTIVE = "active"  # the member's jobs waiting or running
    RATE = "rate"  # the member's jobs per period
    MEMBER_DAILY = "member_daily"  # the member's clips today
    GUILD_DAILY = "guild_daily"  # the guild's clips today
    GUILD_QUEUE = "guild_queue"  # the guild's waiting jobs
    GLOBAL_QUEUE = "global_queue"  # everyone's waiting jobs

    @property
    def member_caused(self) -> bool:
        """Refusals of this kind count towards the member's cooldown."""
        return self in (Limit.COOLDOWN, Limit.ACTIVE, Limit.RATE)


@dataclass(frozen=True, slots=True)
class Limits:
    """One member's limits for one request; 0 turns a limit off."""

    #: jobs per ``rate_period`` seconds: a burst of ``rate``, then one every period/rate
    rate: int = 5
    rate_period: float = 3600.0
    #: the member's jobs waiting or running at once
    active: int = 2
    #: clips per UTC day for the member, and for the whole guild (delivered or in flight)
    member_daily: int = 0
    guild_daily: int = 100
    #: the guild's waiting jobs
    guild_queue: int = 100
    #: ``strikes`` member-caused refusals within ``strike_window`` seconds start a cooldown of
    #: ``cooldown`` seconds, doubled by each further refusal up to ``cooldown_max``
    strikes: int = 3
    strike_window: float = 600.0
    cooldown: float = 60.0
    cooldown_max: float = 3600.0
    #: skip every per-member limit and the daily quotas (the queue caps still apply)
    exempt: bool = False

    def __post_init__(self) -> None:
        for name in ("rate", "active", "member_daily", "guild_daily", "guild_queue", "strikes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or more, not {getattr(self, name)}")
        if self.rate and self.rate_period <= 0:
            raise ValueError("rate_period must be positive when a rate is set")
        if self.strikes and (self.strike_window <= 0 or self.cooldown <= 0):
            raise ValueError("strike_window and cooldown must be positive when strikes are counted")
        if self.cooldown_max < self.cooldown:
            raise ValueError("cooldown_max must be at least cooldown")

    def to_json(self, need: Need | None = None) -> str:
        """The JSON the Lua scripts read (cached: every check and enqueue sends it), with what
        a request of several clips or jobs needs (``need``) when it is more than one."""
        if need is None or need == ONE:
            return _limits_json(self)
        extra = f',"need":{need.clips},"need_jobs":{need.jobs},"cost":{need.cost}}}'
        return _limits_json(self)[:-1] + extra


@dataclass(frozen=True, slots=True)
class Need:
    """What one job of a request takes and what its whole request needs to be free.

    Several takes of one request are judged together on their first job (``clips`` and
    ``jobs`` the request's totals), so either every take fits the member's limits or none is
    queued; a 10 s clip costs two clips of the rate and the daily quotas, one active job.
    """

    #: clips the whole request counts as (rate limit and daily quotas)
    clips: int = 1
    #: jobs the whole request queues (active jobs and the queue caps)
    jobs: int = 1
    #: clips this job counts as
    cost: int = 1

    def __post_init__(self) -> None:
        if min(self.clips, self.jobs, self.cost) < 1:
            raise ValueError("a request needs at least one clip and one job")


#: a request of one standard clip
ONE: Final = Need()


@functools.lru_cache(maxsize=4096)
def _limits_json(limits: Limits) -> str:
    # dataclasses.asdict costs ~20 µs, a quarter of a limit check's client time
    data = asdict(limits)
    data["exempt"] = int(limits.exempt)
    return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a member may still do, as the queue sees it now (``/limits``)."""

    limits: Limits
    now: float
    #: the member's jobs waiting or running
    active: int
    #: jobs counted against the rate limit, and when the next one is allowed (None: now)
    rate_used: int
    rate_next_at: float | None
    cooldown_until: float | None
    #: clips today (delivered or in flight): the guild's and the member's
    guild_today: int
    member_today: int
    #: when the daily counts start again (next UTC midnight)
    day_resets_at: float
    guild_waiting: int
    all_waiting: int
    #: the moderator's reason when the member is blocked
    blocked_reason: str | None

    @classmethod
    def from_state(cls, limits: Limits, state: list[str]) -> Allowance:
        """Build from the ``limits`` script's state reply."""
        now, active, tat, cool_until = float(state[0]), int(state[1]), float(state[2]), float(state[3])
        rate_used, rate_next_at = rate_usage(limits, tat, now)
        return cls(
            limits=limits,
            now=now,
            active=active,
            rate_used=rate_used,
            rate_next_at=rate_next_at,
            cooldown_until=cool_until if cool_until > now else None,
            guild_today=int(state[5]),
            member_today=int(state[6]),
            day_resets_at=(math.floor(now / DAY_SECONDS) + 1) * DAY_SECONDS,
            guild_waiting=int(state[7]),
            all_waiting=int(state[8]),
            blocked_reason=str(state[9]) or None,
        )


def rate_usage(limits: Limits, tat: float, now: float) -> tuple[int, float | None]:
    """Jobs counted against the rate limit at ``now``, and when the next is allowed.

    The same arithmetic as the Lua GCRA: a request is allowed while the theoretical
    arrival time ``tat`` is at most ``rate_period - interval`` ahead of now.
    """
    if not limits.rate or tat <= now:
        return 0, None
    interval = limits.rate_period / limits.rate
    used = min(limits.rate, math.ceil((tat - now) / interval - 1e-6))
    next_at = tat - limits.rate_period + interval
    return used, next_at if next_at > now else None
