"""Which language Reelbot speaks to whom: the member's Discord language where Reelbot speaks it,
else the server's (``/settings language``, else Discord's server setting), else English.

Commands, buttons, forms and autocompletes set both for their own task when they arrive
(:meth:`Languages.enter`), so every text built while answering is in the member's language and
everything posted for the whole channel in the server's (:func:`bot.i18n.for_everyone`).
Delivery, which runs outside interactions, asks :meth:`Languages.server` per job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

import discord
from redis.exceptions import RedisError

from bot import i18n
from bot.guildconfig import GuildConfigStore

log = logging.getLogger(__name__)

#: how long a server's setting is trusted before it is read again (a change made through this
#: bot is seen at once: the settings feature calls :meth:`Languages.forget`)
CACHE_SECONDS = 60.0
#: how long an interaction waits for the setting before it goes on with Discord's server locale:
#: the language is read before the interaction is answered, which Discord wants within 3 s
READ_SECONDS = 0.5


class Languages:
    """Decides the languages of an interaction, and of a server."""

    def __init__(
        self,
        configs: GuildConfigStore,
        discord_locale: Callable[[str], object | None] = lambda guild_id: None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        """
        Args:
            configs: the servers' settings.
            discord_locale: a server's preferred locale as Discord says it (from the guild cache).
        """
        self.configs, self.discord_locale, self.cache_seconds = configs, discord_locale, cache_seconds
        self._settings: dict[str, tuple[float, str | None]] = {}
        #: reads under way, shared by the interactions of a guild that arrive meanwhile
        self._reading: dict[str, asyncio.Future[str | None]] = {}

    async def enter(self, interaction: discord.Interaction) -> None:
        """Speak the interaction's languages for the rest of its task."""
        guild = str(interaction.guild_id) if interaction.guild_id else None
        server = await self.server(guild, interaction.guild_locale)
        i18n.set_languages(i18n.choose(interaction.locale, server), server)

    async def server(
        self, guild_id: str | None, discord_locale: object = None, wait: float | None = READ_SECONDS
    ) -> str:
        """The server's language: its setting, else Discord's server locale, else English.

        Args:
            wait: how long to wait for the setting (None: as long as Redis takes; work outside
                an interaction, such as delivery, has no 3 s answer to keep).
        """
        if guild_id is None:
            return i18n.choose(discord_locale)
        chosen = await self._setting(guild_id, wait)
        return i18n.choose(chosen, discord_locale or self.discord_locale(guild_id))

    def forget(self, guild_id: str) -> None:
        """The server's setting changed: read it again next time."""
        self._settings.pop(guild_id, None)

    async def _setting(self, guild_id: str, wait: float | None = READ_SECONDS) -> str | None:
        now = time.monotonic()
        cached = self._settings.get(guild_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        reading = self._reading.get(guild_id)
        if reading is None:  # one read for a burst of interactions in one guild
            reading = self._reading[guild_id] = asyncio.ensure_future(self._read(guild_id))
            reading.add_done_callback(functools.partial(self._read_done, guild_id))
        try:
            return await asyncio.wait_for(asyncio.shield(reading), wait)
        except (RedisError, TimeoutError) as exc:  # a language is never worth a late or failed reply
            log.warning("could not read the language of guild %s: %r", guild_id, exc)
            return cached[1] if cached is not None else None

    def _read_done(self, guild_id: str, reading: asyncio.Future[str | None]) -> None:
        self._reading.pop(guild_id, None)
        if not reading.cancelled():
            reading.exception()  # retrieved: a read nobody waited for any more failed quietly

    async def _read(self, guild_id: str) -> str | None:
        config = await self.configs.load(guild_id)
        chosen: str | None = getattr(config, "language", None)
        self._settings[guild_id] = (time.monotonic() + self.cache_seconds, chosen)
        if len(self._settings) > 10_000:  # a bot in very many servers: drop the oldest half
            for key in list(self._settings)[:5_000]:
                del self._settings[key]
        return chosen
