"""The audit log: who changed a guild's settings, blocked a member, or decided a review.

Each entry goes to the guild's audit stream in Redis (``Keys.audit``, trimmed to the last
few thousand entries) and to the process log as one line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from inference.contract import Keys

log = logging.getLogger("reelbot.audit")

#: entries kept per guild (approximately: the stream is trimmed with ~)
KEEP = 5000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    action: str
    actor_id: str
    target: str
    detail: str


class AuditLog:
    """Appends to and reads a guild's audit stream."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys

    async def record(
        self, guild_id: str, action: str, actor_id: str, target: str = "", detail: str = ""
    ) -> None:
        """Keep one entry: ``action`` (``block``, ``settings``, ...) by ``actor_id`` on ``target``."""
        entry = {
            "at": f"{time.time():.3f}",
            "action": action,
            "actor": actor_id,
            "target": target,
            "detail": detail,
        }
        await self.redis.xadd(self.keys.audit(guild_id), entry, maxlen=KEEP, approximate=True)  # type: ignore[arg-type]
        log.info("guild=%s %s by=%s target=%s %s", guild_id, action, actor_id, target or "-", detail)

    async def recent(self, guild_id: str, count: int = 20) -> list[AuditEntry]:
        """The newest entries first."""
        rows: list[tuple[str, dict[str, str]]] = await self.redis.xrevrange(  # type: ignore[assignment]
            self.keys.audit(guild_id), count=count
        )
        return [
            AuditEntry(float(f["at"]), f["action"], f["actor"], f.get("target", ""), f.get("detail", ""))
            for _, f in rows
        ]
