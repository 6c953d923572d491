"""Requests and clips waiting for a moderator, and the one decision each gets.

An approval is a Redis hash (``Keys.approval``) kept for ``KEEP_SECONDS``: what waits (a
request before generation, a finished clip before posting, or a member's appeal of a refusal),
for whom, why it was flagged, and the message in the review channel. Deciding is one Lua
call that moves ``state`` from ``pending`` to ``approved`` or ``rejected`` only if it is still
pending, so when several moderators click at once exactly one decision counts; the others are
told who decided first. Everything is in Redis, so reviews survive a restart of the bot.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from redis.asyncio import Redis

from bot.service import VideoRequest
from inference.contract import Keys

#: how long a review can wait for a moderator
KEEP_SECONDS = 7 * 24 * 3600

# a review is written whole or not at all, and never over an existing one
_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_DECIDE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'decided_by', ARGV[2], 'reason', ARGV[3], 'decided_at', ARGV[4])
return 1
"""


class Kind(StrEnum):
    """What waits for the moderator."""

    #: a /video request, before anything renders
    REQUEST = "request"
    #: a finished clip, before it is posted
    CLIP = "clip"
    #: a member's appeal of a refused request: approving it queues the request
    APPEAL = "appeal"


@dataclass(frozen=True, slots=True)
class Pending:
    """One review and, once made, its decision."""

    id: str
    kind: Kind
    guild_id: str
    channel_id: str
    user_id: str
    job_id: str
    prompt: str
    original_prompt: str = ""
    #: why it waits ("every request is reviewed here", what the filter found)
    reasons: str = ""
    #: the request to queue on approval (requests and appeals), as JSON
    request: str = ""
    state: str = "pending"
    decided_by: str = ""
    reason: str = ""
    message_id: str = ""
    created_at: float = 0.0

    @property
    def decided(self) -> bool:
        return self.state != "pending"

    def video_request(self) -> VideoRequest:
        data = json.loads(self.request)
        data["roles"] = tuple(data.get("roles", ()))
        data["image_png"] = None
        return VideoRequest(**data)


def approval_id(kind: Kind, job_id: str) -> str:
    """``r``/``c``/``a`` and the job id: fits a button's custom_id and names the job."""
    return f"{kind.value[0]}{job_id}"


def request_json(request: VideoRequest) -> str:
    """A request (its image already in storage) as JSON, for :attr:`Pending.request`."""
    data = asdict(request)
    data.pop("image_png")
    return json.dumps(data)


class ApprovalStore:
    """Pending reviews in Redis, decided once."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys
        self._decide = redis.register_script(_DECIDE)
        self._open = redis.register_script(_OPEN)

    async def open(self, pending: Pending) -> Pending:
        """Keep a new review (an existing one with the same id is left as it is)."""
        pending = replace(pending, created_at=pending.created_at or time.time())
        fields = [part for k, v in asdict(pending).items() for part in (k, str(v))]
        if await self._open(keys=[self.keys.approval(pending.id)], args=[KEEP_SECONDS, *fields]):
            return pending
        existing = await self.get(pending.id)
        return existing or pending

    async def get(self, approval_id: str) -> Pending | None:
        raw: dict[str, str] = await self.redis.hgetall(self.keys.approval(approval_id))  # type: ignore[assignment]
        if "kind" not in raw:
            return None
        return Pending(
            id=raw["id"],
            kind=Kind(raw["kind"]),
            guild_id=raw["guild_id"],
            channel_id=raw["channel_id"],
            user_id=raw["user_id"],
            job_id=raw["job_id"],
            prompt=raw["prompt"],
            original_prompt=raw.get("original_prompt", ""),
            reasons=raw.get("reasons", ""),
            request=raw.get("request", ""),
            state=raw.get("state", "pending"),
            decided_by=raw.get("decided_by", ""),
            reason=raw.get("reason", ""),
            message_id=raw.get("message_id", ""),
            created_at=float(raw.get("created_at", 0) or 0),
        )

    async def set_message(self, approval_id: str, message_id: str) -> None:
        await self.redis.hset(self.keys.approval(approval_id), "message_id", message_id)

    async def decide(self, approval_id: str, approve: bool, by: str, reason: str = "") -> bool:
        """Record the decision if none was made yet; True for the one call that made it."""
        state = "approved" if approve else "rejected"
        made = await self._decide(
            keys=[self.keys.approval(approval_id)], args=[state, by, reason, f"{time.time():.3f}"]
        )
        return bool(made)
