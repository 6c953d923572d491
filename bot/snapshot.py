"""What one request needs to know about its guild and member, read in one Redis round trip.

The request pipeline reads the guild's settings (limits, tiers, enhancement default and
moderation share one hash), the deployment's maintenance state, the member's strikes with
the content filter, and every lane's workers and depth, all in one pipelined round trip, and
hands the snapshot to every step: nothing on the path reads them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.guildconfig import GuildConfig, GuildLimits, MemberPolicy, guild_config_from, member_policy
from bot.modconfig import ModerationConfig, config_from
from bot.moderation import WATCH_WINDOW, Standing, standing_from
from bot.requests import Member
from inference.contract import ModelId
from inference.jobqueue import JobQueue
from inference.jobqueue.client import LaneStats


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A guild's settings, the queue's state and one member's standing, as of one moment."""

    guild_id: str
    config: GuildConfig
    moderation: ModerationConfig
    #: the maintenance mode ({} when the queue runs normally)
    maintenance: dict[str, str]
    standing: Standing
    lanes: dict[ModelId, LaneStats]
    #: the job this request already made (the same interaction arrived twice), if any
    replay_of: str | None = None

    @property
    def served(self) -> list[ModelId]:
        """The models at least one live worker serves, in catalogue order."""
        return [model for model, stats in self.lanes.items() if stats.workers > 0]

    def is_moderator(self, member: Member) -> bool:
        """Whether ``member`` moderates here (see :meth:`bot.access.AccessPolicy.is_moderator`)."""
        return is_moderator(member, self.moderation)

    def policy(self, member: Member, defaults: GuildLimits) -> MemberPolicy:
        """The limits and queue weight that apply to ``member`` now."""
        return member_policy(defaults, self.config, member.role_ids, self.is_moderator(member))


def is_moderator(member: Member, config: ModerationConfig) -> bool:
    """The one definition of a moderator: Manage Messages (or Administrator) where they act, or
    the guild's moderator role, as they hold it at that moment."""
    if member.manages_messages:
        return True
    return bool(config.moderator_role) and config.moderator_role in member.role_ids


class Snapshots:
    """Reads snapshots: one pipelined round trip each."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.redis: Redis = queue.redis
        self.keys = queue.keys

    async def load(self, guild_id: str, user_id: str, request_id: str | None = None) -> Snapshot:
        now = time.time()
        keys, settings = self.keys, self.queue.settings
        alive_since = now - max(settings.lease_seconds * 2, 5)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.guild_config(guild_id))
            pipe.hgetall(keys.maintenance())
            pipe.zrangebyscore(keys.filter_strikes(guild_id, user_id), now - WATCH_WINDOW, "+inf")
            for model in ModelId:
                pipe.hvals(keys.lane_depth(model.value))
                pipe.zcount(keys.lane_workers(model.value), alive_since, "+inf")
                pipe.hget(keys.lane_state(model.value), "run_avg")
            pipe.get(keys.request(request_id or "-"))
            replies: list[Any] = await pipe.execute()
        raw, maintenance, strikes = replies[0], replies[1], replies[2]
        lanes = {}
        for i, model in enumerate(ModelId):
            per_guild, workers, run_avg = replies[3 + 3 * i : 6 + 3 * i]
            lanes[model] = LaneStats(
                lane=model.value,
                depth=sum(int(n) for n in per_guild),
                workers=int(workers),
                job_seconds=float(run_avg) if run_avg else settings.default_job_seconds,
            )
        return Snapshot(
            guild_id=guild_id,
            config=guild_config_from(raw),
            moderation=config_from(raw),
            maintenance=dict(maintenance),
            standing=standing_from([float(t) for t in strikes], now),
            lanes=lanes,
            replay_of=replies[-1] if request_id else None,
        )
