"""The Discord client: the features' commands and buttons, the error funnel, and the supervised loops.

:class:`ReelBot` knows no feature itself: the composition root (:mod:`bot.compose`) gives it the
features (cogs), the router that answers buttons and forms, and the loops to supervise. Every
slash command error, button, form and autocomplete failure reaches the one funnel.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.funnel import Funnel
from bot.languages import Languages
from bot.observability import BotMetrics, Observer
from bot.settings import BotSettings
from bot.supervisor import Supervisor
from bot.translation import warm_up as warm_languages
from bot.translator import CommandTranslator
from bot.ui import Component, Router

if TYPE_CHECKING:
    from bot.compose import Parts

log = logging.getLogger(__name__)


def point_at(settings: BotSettings) -> None:
    """Send REST and gateway traffic to a Discord-compatible server when configured.

    discord.py reads the REST base from ``Route.BASE`` and, for a plain bot client, the
    gateway from ``DiscordWebSocket.DEFAULT_GATEWAY`` (it never asks GET /gateway/bot).
    """
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


class ReelBot(commands.Bot):
    """Reelbot's Discord side, as the composition root wires it."""

    #: the composed parts (set by :func:`bot.compose.compose`)
    parts: Parts

    def __init__(
        self, settings: BotSettings, *, metrics: BotMetrics, funnel: Funnel, router: Router, **options: Any
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, permissions and upload limits come from the guild cache
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings, self.metrics, self.funnel, self.router = settings, metrics, funnel, router
        self.tree.on_error = self._command_failed  # type: ignore[method-assign]
        self.tree.interaction_check = self._first_time  # type: ignore[method-assign]
        self.supervisor = Supervisor()
        self.observer: Observer | None = None
        self.features: list[commands.Cog] = []
        #: the languages of each interaction (set by the composition root)
        self.languages: Languages | None = None
        #: called when the bot closes (sessions, clients), each on its own
        self.closers: list[Callable[[], Awaitable[None]]] = []

    async def setup_hook(self) -> None:
        for feature in self.features:
            await self.add_cog(feature)
        self.add_dynamic_items(Component)
        # loaded before the first interaction, off the event loop: the language identifier's
        # model takes about half a second of CPU, which would otherwise stall the first replies
        await asyncio.to_thread(warm_languages)
        await self.tree.set_translator(CommandTranslator())
        await self.sync_commands()
        if self.observer is not None:
            await self.observer.start()
        self.supervisor.start()

    async def sync_commands(self) -> None:
        """Register the slash commands: in the dev guild (instant) or globally."""
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.settings.dev_guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (Discord may take a few minutes to show them)", len(synced))

    async def close(self) -> None:
        """Stop the loops, the metrics server and the clients, then disconnect; each step on its
        own, so one that fails never keeps the bot from closing."""
        steps: list[Callable[[], Awaitable[None]]] = [self.supervisor.stop]
        if self.observer is not None:
            steps.append(self.observer.stop)
        for step in [*steps, *self.closers]:
            try:
                await step()
            except Exception:
                log.exception("closing: %s failed", getattr(step, "__qualname__", step))
        await super().close()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Count every command and button (by action, not target), and answer our forms."""
        data: dict[str, Any] = dict(interaction.data or {})
        if interaction.command is not None:
            name = interaction.command.qualified_name
        else:
            name = ":".join(str(data.get("custom_id", "")).split(":")[:2]) or "other"
        self.metrics.commands.labels(name).inc()
        if interaction.type is discord.InteractionType.modal_submit:
            await self.router.submit(interaction)

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s in %d guilds", self.user, len(self.guilds))

    async def _first_time(self, interaction: discord.Interaction) -> bool:
        """Commands and autocompletes delivered twice are answered once, in the member's language."""
        if not self.router.seen.first_time(interaction.id):
            return False
        if self.languages is not None:
            await self.languages.enter(interaction)
        return True

    async def _command_failed(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await self.funnel.report(interaction, error)


async def run_until_stopped(bot: ReelBot, token: str) -> int:
    """Run ``bot`` until SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        try:
            await bot.start(token)
        except discord.LoginFailure:
            raise ValueError(
                "Discord refused DISCORD_TOKEN: reset the bot's token in the developer portal"
            ) from None
    return 0
