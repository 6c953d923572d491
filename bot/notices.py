"""Telling a guild's admins about a problem only they can fix (a channel the bot cannot post in).

Each kind of problem is told once a day (``Keys.notices``): in the guild's mod-log channel when
it has one the bot can post in, else in the channel where it came up. It is also kept for
``/settings show`` and the audit log, so an admin who missed the message still finds it.
"""

from __future__ import annotations

import json
import logging
import time

import discord
from redis.asyncio import Redis

from bot.audit import AuditLog
from bot.channels import ChannelError, Channels
from bot.i18n import _, for_everyone
from inference.contract import Keys

log = logging.getLogger(__name__)

#: a problem is told again after this long if it is still there
RETELL_SECONDS = 24 * 3600


class AdminNotices:
    """Problems told to each guild's admins."""

    def __init__(self, redis: Redis, keys: Keys, channels: Channels, audit: AuditLog) -> None:
        self.redis, self.keys, self.channels, self.audit = redis, keys, channels, audit

    async def tell(
        self, guild_id: str, kind: str, text: str, *, log_channel: str | None, fallback_channel: str | None
    ) -> bool:
        """Tell the admins about ``text`` unless this ``kind`` was told in the last day; True if told.

        ``text`` is posted for everyone in a channel: build it ``with for_everyone()``.
        """
        key = self.keys.notices(guild_id)
        entry = json.dumps({"text": text, "at": round(time.time(), 3)})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, kind, entry)
            pipe.expire(key, RETELL_SECONDS, nx=True)
            first, _expiry = await pipe.execute()
        if not first:
            return False
        log.error("guild %s: %s", guild_id, text)
        await self.audit.record(guild_id, "problem", "reelbot", kind, text[:900])
        with for_everyone():
            message = _("⚠️ **For this server's admins**: {problem}", problem=text)
        for channel_id in dict.fromkeys(c for c in (log_channel, fallback_channel) if c):
            try:
                await self.channels.send(
                    channel_id, content=message[:2000], allowed_mentions=discord.AllowedMentions.none()
                )
                return True
            except ChannelError as exc:
                log.warning("guild %s: could not tell the admins in %s: %s", guild_id, channel_id, exc)
        return True

    async def current(self, guild_id: str) -> list[str]:
        """The problems told in the last day, for /settings show."""
        raw: dict[str, str] = await self.redis.hgetall(self.keys.notices(guild_id))  # type: ignore[assignment]
        return [str(json.loads(value)["text"]) for value in raw.values()]

    async def clear(self, guild_id: str, *kinds: str) -> None:
        """Forget problems an admin just fixed, so they are told at once if they come back."""
        if kinds:
            await self.redis.hdel(self.keys.notices(guild_id), *kinds)
