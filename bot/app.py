"""The Discord client: commands, buttons that survive restarts, and the delivery loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from bot import admin_commands, commands, messages, ops_commands
from bot.delivery import Deliverer
from bot.enhance import Enhancement
from bot.moderation_views import REVIEW_ITEMS as MODERATION_ITEMS
from bot.observability import BotMetrics, Observer
from bot.review_desk import ReviewDesk
from bot.review_views import REVIEW_ITEMS
from bot.service import Submitted, VideoService
from bot.settings import BotSettings
from bot.views import DYNAMIC_ITEMS, status_buttons

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


class ReelBot(discord.Client):
    """Reelbot's Discord side."""

    def __init__(self, settings: BotSettings, service: VideoService, **options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and upload limits come from the guild cache
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **options)
        self.settings, self.service = settings, service
        self.tree = app_commands.CommandTree(self)
        for command in commands.COMMANDS:
            self.tree.add_command(command)
        for group in (*admin_commands.GROUPS, *ops_commands.GROUPS):
            self.tree.add_command(group)
        for command in ops_commands.COMMANDS:
            self.tree.add_command(command)
        self.tree.on_error = commands.on_error  # type: ignore[method-assign]
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics = BotMetrics()
        self.deliverer = Deliverer(self)
        self.reviews = ReviewDesk(self)
        self.observer = Observer(
            service.queue,
            self.metrics,
            lambda: self.is_ready() and not self.is_closed(),
            host=settings.metrics_host,
            port=settings.metrics_port,
            cloudwatch_namespace=settings.cloudwatch_namespace,
        )

    @property
    def http_session(self) -> aiohttp.ClientSession:
        """The session attachments are downloaded with."""
        if self._session is None:
            raise RuntimeError("the bot is not started")
        return self._session

    async def setup_hook(self) -> None:
        self._session = aiohttp.ClientSession()
        self.add_dynamic_items(*DYNAMIC_ITEMS, *REVIEW_ITEMS, *MODERATION_ITEMS)
        await self.sync_commands()
        await self.observer.start()
        self._tasks = [
            asyncio.create_task(self.deliverer.run(), name="reelbot-delivery"),
            asyncio.create_task(self._reap(), name="reelbot-reaper"),
        ]

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
        await self.observer.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
        await super().close()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Count every command and button (by its action, not its job id)."""
        if interaction.command is not None:
            name = interaction.command.qualified_name
        else:
            data: dict[str, Any] = dict(interaction.data or {})
            custom_id = str(data.get("custom_id", ""))
            name = ":".join(custom_id.split(":")[:2]) or "other"
        self.metrics.commands.labels(name).inc()

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s in %d guilds", self.user, len(self.guilds))

    async def announce(
        self,
        interaction: discord.Interaction,
        submitted: Submitted,
        *,
        preview: bytes | None = None,
        enhancement: Enhancement | None = None,
    ) -> None:
        """Tell the member their job is queued (with the enhanced prompt, if any), and put its
        status message in the channel."""
        job = submitted.job
        if submitted.replayed:
            await interaction.followup.send(f"Already queued as `{job.id}`.", ephemeral=True)
            return
        line = messages.queued_line(job, submitted.position)
        note = ""
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            try:
                status = await channel.send(
                    line,
                    view=status_buttons(job.id),
                    allowed_mentions=discord.AllowedMentions(users=[interaction.user]),
                )
            except discord.Forbidden:
                note = "\nI could not post its status here (missing permission); the clip may not arrive."
            except discord.HTTPException as exc:
                # the job is queued: a status message lost to a Discord hiccup is no reason to fail
                log.warning("job %s: could not post its status message: %s", job.id, exc)
                note = "\nI could not post its status in the channel just now; the clip will still be posted."
            else:
                await self.service.record_post(job.id, "status", str(status.id), only_if_new=True)
        place = ""
        if submitted.position is not None:
            ahead = submitted.position.ahead
            place = " You are next." if ahead == 0 else f" {ahead} ahead of you."
        text = f"Queued `{job.id}` with `{job.spec.model}`.{place}{note}"
        if enhancement is not None:
            text += messages.enhancement_lines(enhancement)
        if preview is None:
            await interaction.followup.send(text, ephemeral=True)
            return
        text += " This is the part of your image the video will show."
        await interaction.followup.send(
            text, ephemeral=True, file=discord.File(io.BytesIO(preview), "preview.png")
        )

    async def respond(
        self,
        interaction: discord.Interaction,
        outcome: Submitted | str,
        *,
        preview: bytes | None = None,
        enhancement: Enhancement | None = None,
    ) -> None:
        """Announce a queued job, or pass on what the member is told about a held one."""
        if isinstance(outcome, str):
            text = outcome + (messages.enhancement_lines(enhancement) if enhancement else "")
            await interaction.followup.send(messages.clip_text(text), ephemeral=True)
            return
        await self.announce(interaction, outcome, preview=preview, enhancement=enhancement)

    async def _reap(self) -> None:
        """Reclaim expired leases, as workers do, so a lone dead worker's job still moves."""
        every = self.service.queue.settings.reap_interval_seconds
        while True:
            try:
                await self.service.queue.reap()
            except Exception:
                log.exception("reaping failed; retrying")
            await asyncio.sleep(every)


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
