"""Buttons under status and clip messages, and the Remix form.

Every button is a :class:`discord.ui.DynamicItem` whose ``custom_id`` carries the job id
(``reelbot:<action>:<job>``), so buttons on old messages keep working after a restart:
discord.py matches the id against the templates registered at start-up. Who may press
is checked when the button is pressed, never when it is drawn.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Self

import discord

from bot.errors import UserFacingError
from bot.limits import Requester

if TYPE_CHECKING:
    from bot.app import ReelBot

log = logging.getLogger(__name__)

_JOB = r"(?P<job>[0-9a-z]{6,32})"


def _bot(interaction: discord.Interaction) -> ReelBot:
    return interaction.client  # type: ignore[return-value]


def is_moderator(interaction: discord.Interaction) -> bool:
    """Members who may manage messages in the channel count as moderators."""
    permissions = interaction.permissions
    return bool(permissions.manage_messages or permissions.administrator)


def requester_of(interaction: discord.Interaction) -> Requester:
    """The member behind an interaction, with the role ids and standing their limits use."""
    roles = getattr(interaction.user, "roles", ())
    return Requester(
        guild_id=str(interaction.guild_id),
        user_id=str(interaction.user.id),
        role_ids=tuple(str(role.id) for role in roles if not role.is_default()),
        moderator=is_moderator(interaction),
    )


async def run_safely(interaction: discord.Interaction, action: Any) -> None:
    """Run a button's action; a UserFacingError becomes a private reply."""
    try:
        await action()
    except UserFacingError as exc:
        _bot(interaction).metrics.refusals.labels(exc.reason).inc()
        await _tell(interaction, str(exc))


async def _tell(interaction: discord.Interaction, text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


class IdButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button whose custom_id is ``reelbot:<action>:<job>``; subclasses set the template."""

    action = ""
    label = ""
    emoji: str | None = None
    style = discord.ButtonStyle.secondary

    def __init__(self, job_id: str) -> None:
        custom_id = f"reelbot:{self.action}:{job_id}"
        super().__init__(
            discord.ui.Button(label=self.label, emoji=self.emoji, style=self.style, custom_id=custom_id)
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job"])


class CancelButton(IdButton, template=rf"reelbot:cancel:{_JOB}"):
    """Under a status message: stop a queued or running job."""

    action, label, style = "cancel", "Cancel", discord.ButtonStyle.danger

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await _bot(interaction).service.cancel(
                self.job_id, str(interaction.user.id), is_moderator(interaction)
            )
            await interaction.followup.send(text, ephemeral=True)

        await run_safely(interaction, act)


class RerollButton(IdButton, template=rf"reelbot:reroll:{_JOB}"):
    """Under a clip: the same prompt again with a new seed, queued for whoever pressed."""

    action, label, emoji = "reroll", "Re-roll", "🎲"

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            bot = _bot(interaction)
            request = await bot.service.reroll_request(
                self.job_id, str(interaction.id), requester_of(interaction)
            )
            await bot.respond(interaction, await bot.reviews.submit_or_hold(request, []))

        await run_safely(interaction, act)


class RemixButton(IdButton, template=rf"reelbot:remix:{_JOB}"):
    """Under a clip: a form pre-filled with the prompt, to change it and render again."""

    action, label, emoji = "remix", "Remix", "✏️"

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            job = await _bot(interaction).service.job(self.job_id)
            await interaction.response.send_modal(RemixModal(job.id, job.spec.prompt))

        await run_safely(interaction, act)


class DeleteButton(IdButton, template=rf"reelbot:delete:{_JOB}"):
    """Under a clip: remove it (the member who asked for it, or a moderator)."""

    action, label, emoji = "delete", "Delete", "🗑️"

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            job = await _bot(interaction).service.job(self.job_id)
            if job.user_id != str(interaction.user.id) and not is_moderator(interaction):
                raise UserFacingError(
                    "Only the member who asked for this video, or a moderator, can delete it."
                )
            await interaction.response.defer(ephemeral=True, thinking=True)
            if interaction.message is not None:
                await interaction.message.delete()
            await interaction.followup.send(f"Deleted the clip of `{job.id}`.", ephemeral=True)

        await run_safely(interaction, act)


class PromptForm(discord.ui.Modal):
    """A form with one paragraph field, ``prompt``, pre-filled; subclasses act on submit."""

    def __init__(self, custom_id: str, prompt: str) -> None:
        super().__init__(custom_id=custom_id, timeout=None)
        self.prompt: discord.ui.TextInput[PromptForm] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=prompt[:2000],
            max_length=2000,
        )
        self.add_item(self.prompt)


class RemixModal(PromptForm, title="Remix this video"):
    """The prompt, editable; submitting queues a new job for whoever submits."""

    def __init__(self, job_id: str, prompt: str) -> None:
        super().__init__(f"reelbot:remix-form:{job_id}", prompt)
        self.job_id = job_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            bot = _bot(interaction)
            who = requester_of(interaction)
            request = await bot.service.reroll_request(
                self.job_id, str(interaction.id), who, self.prompt.value
            )
            verdict = await bot.service.prompts.screen_member(request.prompt, who.guild_id)
            if not verdict.allowed:
                raise await bot.reviews.refuse(request, verdict.reason)
            flags = [verdict.reason] if verdict.flagged else []
            await bot.respond(interaction, await bot.reviews.submit_or_hold(request, flags))

        await run_safely(interaction, act)


def status_buttons(job_id: str) -> discord.ui.View:
    """The view under a status message: Cancel."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def clip_buttons(job_id: str) -> discord.ui.View:
    """The view under a clip: Re-roll, Remix, Delete."""
    view = discord.ui.View(timeout=None)
    for item in (RerollButton(job_id), RemixButton(job_id), DeleteButton(job_id)):
        view.add_item(item)
    return view


DYNAMIC_ITEMS = (CancelButton, RerollButton, RemixButton, DeleteButton)
