"""Community limits on the bot's side: who gets which limits, refusals, blocks, settings.

The queue judges and takes the limits atomically (``inference.jobqueue.admission``); this
module decides what a member's limits are (the guild's settings, their roles' tiers, a
moderator exemption), turns refusals into messages, and keeps the block list and the
settings changes in the audit log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.audit import AuditLog
from bot.errors import Refused
from bot.guildconfig import GuildConfig, GuildConfigStore, GuildLimits, MemberPolicy, Tier
from bot.i18n import _
from bot.limit_messages import refusal_text
from bot.requests import Member
from inference.contract import JobStatus
from inference.jobqueue import Allowance, JobNotFound, JobQueue, Limit, LimitReached, Need

log = logging.getLogger(__name__)

MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Block:
    user_id: str
    reason: str
    by: str
    at: float


class LimitsService:
    """Limits, blocks and limit settings for every guild."""

    def __init__(self, queue: JobQueue, defaults: GuildLimits | None = None) -> None:
        self.queue = queue
        self.defaults = defaults or GuildLimits()
        self.config = GuildConfigStore(queue.redis, queue.keys)
        self.audit = AuditLog(queue.redis, queue.keys)

    # ---------------------------------------------------------------- members

    async def check(
        self, who: Member, policy: MemberPolicy, lane: str, need: Need | None = None, takes: int = 1
    ) -> None:
        """Refuse early, before slow work, when the member's next request would be refused
        (``need``: what it needs free when it is more than one standard clip).

        Raises:
            Refused: the refusal, with its numbers and when to try again.
        """
        try:
            await self.queue.check(who.guild_id, who.user_id, policy.limits, need)
        except LimitReached as refusal:
            text = await self.explain(refusal, who, policy, lane, takes, need)
            raise Refused(text, reason="limit") from None

    async def allowance(self, who: Member, policy: MemberPolicy) -> Allowance:
        """What the member may still do (reads only)."""
        return await self.queue.allowance(who.guild_id, who.user_id, policy.limits)

    async def explain(
        self,
        refusal: LimitReached,
        who: Member,
        policy: MemberPolicy,
        lane: str,
        takes: int = 1,
        need: Need | None = None,
    ) -> str:
        """The member's message for a refusal, with an estimate of when to try again where
        the limit itself cannot say (a job finishing, the queue draining), and what a request
        of several takes or a long clip counts as."""
        text = await self._explain(refusal, who, policy, lane)
        if refusal.limit in (Limit.BLOCKED, Limit.COOLDOWN):
            return text
        long = need is not None and need.cost > 1
        if takes > 1 and long:
            text += " " + _(
                "You asked for {takes} takes, and each counts as a video (a 10 s one as two): "
                "ask for fewer takes to fit what is left.",
                takes=takes,
            )
        elif takes > 1:
            text += " " + _(
                "You asked for {takes} takes, and each counts as a video: "
                "ask for fewer takes to fit what is left.",
                takes=takes,
            )
        elif long:
            text += " " + _("A 10 s clip counts as two videos: a 5 s one may still fit.")
        return text

    async def _explain(self, refusal: LimitReached, who: Member, policy: MemberPolicy, lane: str) -> str:
        retry_at = refusal.retry_at
        if retry_at is None and refusal.limit == Limit.ACTIVE:
            retry_at = await self._first_finish(who, lane)
        elif retry_at is None and refusal.limit in (Limit.GUILD_QUEUE, Limit.GLOBAL_QUEUE):
            stats = await self.queue.lane_stats(lane)
            retry_at = time.time() + stats.job_seconds / max(stats.workers, 1)
        return refusal_text(refusal, retry_at, policy.limits.rate_period)

    async def _first_finish(self, who: Member, lane: str) -> float:
        """When the member's earliest active job should finish: from its place and the lane's
        measured render time, or the default render time where nothing can say more (no worker
        online yet, or the job ended just now)."""
        now = time.time()
        ids: set[str] = await self.queue.redis.smembers(  # type: ignore[assignment]
            self.queue.keys.member_active(who.guild_id, who.user_id)
        )
        soonest: float | None = None
        for job_id in ids:
            try:
                job = await self.queue.get(job_id)
            except JobNotFound:
                continue
            stats = await self.queue.lane_stats(job.lane)
            if job.status is JobStatus.RUNNING and job.started_at:
                end = max(job.started_at + stats.job_seconds, now + 1)
            else:
                position = await self.queue.position(job.id, stats)
                if position is not None and position.eta:
                    end = position.eta + stats.job_seconds
                else:  # no worker to give an ETA: its place times the lane's render time
                    ahead = position.ahead if position is not None else 0
                    end = now + (ahead + 1) * stats.job_seconds
            soonest = end if soonest is None else min(soonest, end)
        if soonest is None:
            soonest = now + (await self.queue.lane_stats(lane)).job_seconds
        return soonest

    # ----------------------------------------------------------------- blocks

    async def block(self, guild_id: str, user_id: str, reason: str, by: str) -> None:
        """Block a member from making videos here (their queued jobs are left alone)."""
        reason = " ".join(reason.split())[:MAX_REASON]
        entry = json.dumps({"reason": reason, "by": by, "at": round(time.time(), 3)})
        await self.queue.redis.hset(self.queue.keys.blocked(guild_id), user_id, entry)
        await self.audit.record(guild_id, "block", by, user_id, reason)

    async def unblock(self, guild_id: str, user_id: str, by: str, reason: str = "") -> bool:
        """Lift a block; False when the member was not blocked."""
        removed = bool(await self.queue.redis.hdel(self.queue.keys.blocked(guild_id), user_id))
        if removed:
            await self.audit.record(guild_id, "unblock", by, user_id, " ".join(reason.split())[:MAX_REASON])
        return removed

    async def blocks(self, guild_id: str) -> list[Block]:
        """Blocked members, newest first."""
        raw: dict[str, str] = await self.queue.redis.hgetall(self.queue.keys.blocked(guild_id))  # type: ignore[assignment]
        out = []
        for user_id, text in raw.items():
            try:
                entry = json.loads(text)
                out.append(Block(user_id, str(entry["reason"]), str(entry["by"]), float(entry["at"])))
            except (ValueError, KeyError, TypeError):
                out.append(Block(user_id, text, "", 0.0))
        return sorted(out, key=lambda b: b.at, reverse=True)

    # --------------------------------------------------------------- settings

    async def guild_settings(self, guild_id: str) -> GuildConfig:
        return await self.config.load(guild_id)

    async def change_limits(self, guild_id: str, changes: Mapping[str, int | bool], by: str) -> GuildConfig:
        """Set some of a guild's limits (checked, all or none); returns the new settings.

        Raises:
            SettingsError: a value is out of range; nothing was changed.
        """
        before = (await self.config.load(guild_id)).limits(self.defaults)
        await self.config.set_limits(guild_id, changes)
        detail = ", ".join(f"{k} {getattr(before, k)} -> {v}" for k, v in changes.items())
        await self.audit.record(guild_id, "limits", by, "", detail)
        return await self.config.load(guild_id)

    async def reset_limits(self, guild_id: str, by: str) -> GuildConfig:
        await self.config.reset_limits(guild_id)
        await self.audit.record(guild_id, "limits", by, "", "reset to the defaults")
        return await self.config.load(guild_id)

    async def set_tier(self, guild_id: str, tier: Tier, by: str) -> None:
        await self.config.set_tier(guild_id, tier)
        await self.audit.record(guild_id, "tier", by, tier.role_id, tier.to_json())

    async def remove_tier(self, guild_id: str, role_id: str, by: str) -> bool:
        removed = await self.config.remove_tier(guild_id, role_id)
        if removed:
            await self.audit.record(guild_id, "tier-removed", by, role_id)
        return removed
