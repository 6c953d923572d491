"""The one error funnel: what a member is told when a command, button, form or autocomplete fails.

- a :class:`bot.errors.UserFacingError` (a refusal, a missing permission) is shown as it is,
  privately, with an Appeal button when the refusal can be appealed, and counted by reason;
- anything else is a bug: it is logged with a short reference, and the member gets a private
  reply with the same reference, so a report can be matched to the log line;
- an autocomplete can only answer with choices, so its failure becomes one choice that says
  what went wrong, with the reference.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from redis.exceptions import RedisError

from bot.errors import UserFacingError
from bot.i18n import N_, _
from bot.observability import BotMetrics

log = logging.getLogger(__name__)

UNREACHABLE = N_(
    "Reelbot cannot reach its database right now, so nothing was done; what you had queued is "
    "safe. Please try again in a minute."
)

#: the view offering an Appeal for a refusal id (set by the approvals feature)
AppealView = Callable[[str], discord.ui.View]


class Funnel:
    """Turns any exception raised while handling an interaction into a reply."""

    def __init__(self, metrics: BotMetrics, appeal_view: AppealView | None = None) -> None:
        self.metrics = metrics
        self.appeal_view = appeal_view

    async def guard(self, interaction: discord.Interaction, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action``; whatever it raises is reported to the member."""
        try:
            await action()
        except Exception as exc:
            await self.report(interaction, exc)

    async def report(self, interaction: discord.Interaction, error: BaseException) -> None:
        """Tell the member about ``error`` (a command's error arrives wrapped by discord.py)."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        extra: dict[str, Any] = {}
        if isinstance(cause, UserFacingError):
            text = str(cause)
            self.metrics.refusals.labels(cause.reason).inc()
            if cause.appeal_id and self.appeal_view is not None:
                extra["view"] = self.appeal_view(cause.appeal_id)
        elif isinstance(cause, app_commands.NoPrivateMessage):
            text = _("Reelbot works inside a server, not in direct messages.")
        elif isinstance(cause, app_commands.CheckFailure | app_commands.TransformerError):
            text = str(cause) or _("This command cannot be used here.")
        elif isinstance(cause, RedisError):
            # Redis down, frozen or partitioned: the client gave up after its timeouts and retries
            log.warning("an interaction failed because Redis cannot be reached: %s", cause)
            self.metrics.refusals.labels("redis").inc()
            text = _(UNREACHABLE)
        else:
            reference = self.log_bug(interaction, cause)
            text = _(
                "Something went wrong on our side (reference `{reference}`). Please try again in a moment.",
                reference=reference,
            )
        await self.reply(interaction, text, **extra)

    def log_bug(self, interaction: discord.Interaction, error: BaseException) -> str:
        """Log an unexpected error with a fresh reference; returns the reference."""
        reference = secrets.token_hex(4)
        data: dict[str, Any] = dict(interaction.data or {})
        what = data.get("custom_id") or data.get("name") or "an interaction"
        log.error(
            "%s failed for user %s in guild %s (ref %s)",
            what,
            interaction.user.id,
            interaction.guild_id,
            reference,
            exc_info=error,
        )
        self.metrics.refusals.labels("bug").inc()
        return reference

    async def reply(self, interaction: discord.Interaction, text: str, **extra: Any) -> None:
        """A private reply, as a follow-up when the interaction was already answered."""
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, **extra)
            else:
                await interaction.response.send_message(text, ephemeral=True, **extra)
        except discord.HTTPException as exc:
            self.metrics.discord_errors.labels(str(exc.status)).inc()
            log.warning("could not tell the member about an error (%s): %s", exc.status, text)

    async def choices(
        self,
        interaction: discord.Interaction,
        produce: Callable[[], Awaitable[list[app_commands.Choice[str]]]],
    ) -> list[app_commands.Choice[str]]:
        """An autocomplete's choices; on a failure, one choice that says so, with a reference."""
        try:
            return await produce()
        except UserFacingError as exc:
            return [app_commands.Choice(name=str(exc)[:100], value="-")]
        except RedisError:
            name = _("The list is not available right now; type a value")
            return [app_commands.Choice(name=name, value="-")]
        except Exception as exc:
            reference = self.log_bug(interaction, exc)
            name = _(
                "Could not list the choices (reference {reference}); type a value or try again",
                reference=reference,
            )
            return [app_commands.Choice(name=name[:100], value="-")]
