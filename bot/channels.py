"""The bot's edge to Discord channels: find one, post or edit in it, with Discord's errors translated.

::

    ChannelError           posting in a channel did not work
     ├── Unreachable       the channel is gone, or the bot may not post there (404, 403):
     │                     retrying will not help until an admin changes something
     └── DiscordDown       Discord answered 5xx or 429, or could not be reached: retry later

Everything else that posts to a channel (delivery, moderator cards, the member's notices) goes
through :class:`Channels`, so the same failure means the same thing everywhere.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord

from bot.i18n import N_, _
from bot.observability import BotMetrics

log = logging.getLogger(__name__)

#: what the bot needs in a channel to post status messages and clips, as Discord names it
#: (in English: translated with ``_()`` where it is shown, as Discord names it in that language)
REQUIRED_PERMISSIONS = {
    "view_channel": N_("View Channel"),
    "send_messages": N_("Send Messages"),
    "attach_files": N_("Attach Files"),
    "embed_links": N_("Embed Links"),
}


class ChannelError(Exception):
    """Posting in a channel did not work."""

    def __init__(self, channel_id: str, detail: str) -> None:
        super().__init__(f"channel {channel_id}: {detail}")
        self.channel_id, self.detail = channel_id, detail


class Unreachable(ChannelError):
    """The channel is gone or the bot lacks a permission there; only an admin can change that."""


class DiscordDown(ChannelError):
    """Discord is unavailable or rate-limits the bot; the same call may work later."""


def missing_permissions(permissions: discord.Permissions) -> list[str]:
    """The names of the permissions the bot lacks, as Discord shows them."""
    return [label for flag, label in REQUIRED_PERMISSIONS.items() if not getattr(permissions, flag)]


class Channels:
    """Finds channels and posts in them for the bot."""

    def __init__(self, client: discord.Client, metrics: BotMetrics) -> None:
        self.client, self.metrics = client, metrics

    async def get(self, channel_id: str) -> Any:
        """A channel the bot can post in.

        Raises:
            Unreachable: it is gone or hidden from the bot.
            DiscordDown: Discord could not say.
        """
        channel = self.client.get_channel(int(channel_id))
        if channel is not None:
            return channel
        try:
            return await self.client.fetch_channel(int(channel_id))
        except (discord.NotFound, discord.Forbidden) as exc:
            raise Unreachable(
                channel_id, _("gone or hidden from the bot ({status})", status=exc.status)
            ) from exc
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise DiscordDown(channel_id, _("cannot look it up: {error}", error=exc)) from exc

    def bot_permissions(self, channel: Any) -> discord.Permissions | None:
        """What the bot may do in ``channel``, from the cache (None when Discord did not say)."""
        guild = getattr(channel, "guild", None)
        me = getattr(guild, "me", None)
        if me is None or not hasattr(channel, "permissions_for"):
            return None
        permissions: discord.Permissions = channel.permissions_for(me)
        return permissions

    async def send(self, channel_id: str, **kwargs: Any) -> discord.Message:
        """Post a message.

        Raises:
            Unreachable: the channel is gone or the bot lacks a permission there.
            DiscordDown: Discord failed or rate-limited the bot; try again later.
        """
        channel = await self.get(channel_id)
        try:
            message: discord.Message = await channel.send(**kwargs)
        except Exception as exc:
            raise self._translate(channel_id, exc) from exc
        return message

    async def edit(self, channel_id: str, message_id: str, **kwargs: Any) -> bool:
        """Edit one of the bot's messages; False when it was deleted meanwhile.

        Raises:
            Unreachable: the bot lacks a permission there.
            DiscordDown: Discord failed; try again later.
        """
        channel = await self.get(channel_id)
        try:
            await channel.get_partial_message(int(message_id)).edit(**kwargs)
        except discord.NotFound:
            return False
        except Exception as exc:
            raise self._translate(channel_id, exc) from exc
        return True

    async def delete(self, channel_id: str, message_id: str) -> bool:
        """Delete one of the bot's messages; False when it was already gone."""
        channel = await self.get(channel_id)
        try:
            await channel.get_partial_message(int(message_id)).delete()
        except discord.NotFound:
            return False
        except Exception as exc:
            raise self._translate(channel_id, exc) from exc
        return True

    def _translate(self, channel_id: str, exc: Exception) -> Exception:
        if isinstance(exc, discord.HTTPException):
            self.metrics.discord_errors.labels(str(exc.status)).inc()
            if exc.status in (403, 404):
                return Unreachable(channel_id, f"{exc.status} {exc.text or 'Missing Permissions'}")
            if exc.status >= 500 or exc.status == 429:
                return DiscordDown(channel_id, _("Discord answered {status}", status=exc.status))
            return Unreachable(
                channel_id,
                _("Discord refused the message ({status}: {text})", status=exc.status, text=exc.text),
            )
        if isinstance(exc, discord.RateLimited):
            self.metrics.discord_errors.labels("429").inc()
            return DiscordDown(channel_id, _("rate-limited for {seconds:.0f} s", seconds=exc.retry_after))
        if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
            return DiscordDown(channel_id, _("Discord could not be reached: {error}", error=exc))
        return exc
