"""Requests and clips waiting for a moderator, and the one decision each gets.

An approval is a Redis hash (``Keys.approval``) kept for ``KEEP_SECONDS``: what waits (a
request before generation, a finished clip before posting, or a member's appeal of a refusal),
for whom, why, and the card in the review channel. Every change of state is one Lua call:

- deciding moves ``state`` from ``pending`` to ``approved`` or ``rejected`` only if it is still
  pending, so when several moderators click at once exactly one decision counts and the others
  are told who decided first;
- sending an appeal moves a refusal from ``draft`` to ``pending`` and spends one of the
  member's appeals for the day in the same step, so a double click spends one.

Everything is in Redis, so approvals survive a restart of the bot.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from redis.asyncio import Redis

from bot.requests import VideoRequest
from inference.contract import Keys

#: how long an approval can wait for a moderator
KEEP_SECONDS = 7 * 24 * 3600
#: appeals a member may send per UTC day
APPEALS_PER_DAY = 3

# an approval is written whole or not at all, and never over an existing one
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

# KEYS: the approval, the member's appeal counter for today; ARGV: the daily cap
_APPEAL = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'gone' end
if state ~= 'draft' then return 'already' end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[1]) then return 'spent' end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 172800)
redis.call('HSET', KEYS[1], 'state', 'pending', 'appealed_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'sent'
"""


class Kind(StrEnum):
    """What waits for the moderator."""

    #: a request, before anything renders
    REQUEST = "request"
    #: a finished clip, before it is posted
    CLIP = "clip"
    #: a member's appeal of a refused request: approving it queues the request
    APPEAL = "appeal"


@dataclass(frozen=True, slots=True)
class Pending:
    """One approval and, once made, its decision."""

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
    #: the request to queue on approval (requests and appeals)
    request: VideoRequest | None = None
    #: ``draft`` (an appeal not sent yet), ``pending``, ``approved`` or ``rejected``
    state: str = "pending"
    decided_by: str = ""
    reason: str = ""
    message_id: str = ""
    created_at: float = 0.0

    @property
    def decided(self) -> bool:
        return self.state in ("approved", "rejected")

    def fields(self) -> list[str]:
        """The hash fields, flattened for HSET."""
        data = asdict(self)
        data["request"] = self.request.to_json() if self.request is not None else ""
        return [part for k, v in data.items() for part in (k, str(v))]


def approval_id(kind: Kind, job_id: str) -> str:
    """``r``/``c``/``a`` and the job id: fits a button's custom_id and names the job."""
    return f"{kind.value[0]}{job_id}"


class ApprovalStore:
    """Approvals in Redis, decided once."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys
        self._decide = redis.register_script(_DECIDE)
        self._open = redis.register_script(_OPEN)
        self._appeal = redis.register_script(_APPEAL)

    async def open(self, pending: Pending, keep_seconds: int = KEEP_SECONDS) -> Pending:
        """Keep a new approval for ``keep_seconds`` (an existing one with the same id is returned
        as it is)."""
        pending = replace(pending, created_at=pending.created_at or time.time())
        if await self._open(keys=[self.keys.approval(pending.id)], args=[keep_seconds, *pending.fields()]):
            return pending
        existing = await self.get(pending.id)
        return existing or pending

    async def get(self, approval_id: str) -> Pending | None:
        raw: dict[str, str] = await self.redis.hgetall(self.keys.approval(approval_id))  # type: ignore[assignment]
        if "kind" not in raw:
            return None
        request = raw.get("request", "")
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
            request=VideoRequest.from_json(request) if request else None,
            state=raw.get("state", "pending"),
            decided_by=raw.get("decided_by", ""),
            reason=raw.get("reason", ""),
            message_id=raw.get("message_id", ""),
            created_at=float(raw.get("created_at", 0) or 0),
        )

    async def discard(self, approval_id: str) -> None:
        """Forget an approval whose card could not be posted (nobody could ever decide it)."""
        await self.redis.delete(self.keys.approval(approval_id))

    async def set_message(self, approval_id: str, message_id: str) -> None:
        await self.redis.hset(self.keys.approval(approval_id), "message_id", message_id)

    async def decide(self, approval_id: str, approve: bool, by: str, reason: str = "") -> bool:
        """Record the decision if none was made yet; True for the one call that made it."""
        state = "approved" if approve else "rejected"
        made = await self._decide(
            keys=[self.keys.approval(approval_id)], args=[state, by, reason, f"{time.time():.3f}"]
        )
        return bool(made)

    async def reopen(self, approval_id: str) -> None:
        """Undo a decision that could not be carried out (Discord was down), so it can be made again."""
        await self.redis.hset(
            self.keys.approval(approval_id), mapping={"state": "pending", "decided_by": "", "reason": ""}
        )

    async def withdraw_appeal(self, pending: Pending) -> None:
        """Undo :meth:`send_appeal` when the appeal could not reach the moderators: the refusal can
        be appealed again and today's appeal is given back."""
        day = int(time.time() // 86400)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.approval(pending.id), "state", "draft")
            pipe.decr(self.keys.appeals(pending.guild_id, pending.user_id, day))
            await pipe.execute()

    async def send_appeal(self, pending: Pending) -> str:
        """Turn a refusal into a pending appeal and spend one of today's appeals, at once.

        Returns ``sent``, ``already`` (sent before: nothing spent), ``spent`` (no appeals left
        today: nothing changed) or ``gone`` (expired).
        """
        day = int(time.time() // 86400)
        counter = self.keys.appeals(pending.guild_id, pending.user_id, day)
        reply = await self._appeal(
            keys=[self.keys.approval(pending.id), counter],
            args=[APPEALS_PER_DAY, f"{time.time():.3f}", KEEP_SECONDS],
        )
        return str(reply)
