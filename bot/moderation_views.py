"""Moderator reviews in Discord: the review message with Approve and Reject (a reason form), and the
Appeal button on a refusal.

Buttons carry the approval id (``reelbot:approve:<id>``), so reviews posted before a restart
still work after it. Whether the clicker may decide is checked when they click: the Manage
Messages permission in the review channel, or the guild's moderator role as they hold it now.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.approvals import Kind, Pending
from bot.errors import UserFacingError
from bot.messages import clip_text
from bot.views import IdButton, run_safely

if TYPE_CHECKING:
    from bot.app import ReelBot

log = logging.getLogger(__name__)

_ID = r"(?P<job>[0-9a-z]{6,33})"
_WAITING, _APPROVED, _REJECTED = 0xFEE75C, 0x57F287, 0xED4245
_TITLES = {
    Kind.REQUEST: "A video request waits for approval",
    Kind.CLIP: "A finished clip waits for approval",
    Kind.APPEAL: "A member appeals a refused request",
}


def _bot(interaction: discord.Interaction) -> ReelBot:
    return interaction.client  # type: ignore[return-value]


def review_embed(pending: Pending) -> discord.Embed:
    """The review card: member, prompts, job id, why it waits, and the decision once made."""
    colour = {"approved": _APPROVED, "rejected": _REJECTED}.get(pending.state, _WAITING)
    embed = discord.Embed(title=_TITLES[pending.kind], colour=colour)
    embed.add_field(name="Member", value=f"<@{pending.user_id}>")
    embed.add_field(name="Channel", value=f"<#{pending.channel_id}>")
    embed.add_field(name="Job", value=f"`{pending.job_id}`")
    embed.add_field(name="Prompt", value=clip_text(pending.prompt, 1000), inline=False)
    if pending.original_prompt and pending.original_prompt != pending.prompt:
        embed.add_field(name="Their words", value=clip_text(pending.original_prompt, 1000), inline=False)
    if pending.reasons:
        embed.add_field(name="Why it is here", value=clip_text(pending.reasons, 1000), inline=False)
    if pending.decided:
        said = f": {pending.reason}" if pending.reason else ""
        embed.add_field(
            name="Decision", value=f"{pending.state.capitalize()} by <@{pending.decided_by}>{said}"
        )
    embed.set_footer(text=f"review {pending.id}")
    return embed


def review_buttons(pending: Pending) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(pending.id))
    view.add_item(RejectButton(pending.id))
    return view


def review_files(pending: Pending, clip: bytes | None) -> list[discord.File]:
    """The clip behind a spoiler, so nobody sees it by scrolling past."""
    if clip is None:
        return []
    return [discord.File(io.BytesIO(clip), filename=f"SPOILER_reelbot-{pending.job_id}.mp4", spoiler=True)]


def appeal_view(approval_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(AppealButton(approval_id))
    return view


class ApproveButton(IdButton, template=rf"reelbot:approve:{_ID}"):
    """Approve: the request is queued, or the clip posted."""

    action, label, emoji, style = "approve", "Approve", "✅", discord.ButtonStyle.success

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            bot = _bot(interaction)
            await bot.reviews.require_moderator(interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await bot.reviews.decide(self.job_id, interaction, approve=True)
            await interaction.followup.send(text, ephemeral=True)

        await run_safely(interaction, act)


class RejectButton(IdButton, template=rf"reelbot:reject:{_ID}"):
    """Reject: a form asks for the reason the member will see."""

    action, label, emoji, style = "reject", "Reject", "⛔", discord.ButtonStyle.danger

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            bot = _bot(interaction)
            await bot.reviews.require_moderator(interaction)
            pending = await bot.reviews.approvals.get(self.job_id)
            if pending is None or pending.decided:
                raise UserFacingError(await bot.reviews.already(self.job_id))
            await interaction.response.send_modal(RejectModal(self.job_id))

        await run_safely(interaction, act)


class RejectModal(discord.ui.Modal, title="Reject"):
    """The reason, shown to the member and kept in the audit log."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(custom_id=f"reelbot:reject-form:{approval_id}", timeout=None)
        self.approval_id = approval_id
        self.reason: discord.ui.TextInput[RejectModal] = discord.ui.TextInput(
            label="Reason (the member sees it)", custom_id="reason", max_length=300, min_length=1
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            bot = _bot(interaction)
            await bot.reviews.require_moderator(interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await bot.reviews.decide(
                self.approval_id, interaction, approve=False, reason=self.reason.value
            )
            await interaction.followup.send(text, ephemeral=True)

        await run_safely(interaction, act)


class AppealButton(IdButton, template=rf"reelbot:appeal:{_ID}"):
    """On a refusal: send it to the moderators (a few times a day)."""

    action, label, emoji = "appeal", "Appeal", "📨"

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            text = await _bot(interaction).reviews.appeal(self.job_id, str(interaction.user.id))
            await interaction.followup.send(text, ephemeral=True)

        await run_safely(interaction, act)


REVIEW_ITEMS: tuple[type[IdButton], ...] = (ApproveButton, RejectButton, AppealButton)


def message_kwargs(pending: Pending, clip: bytes | None = None) -> dict[str, Any]:
    """What a review message carries: the card, the buttons while pending, the clip."""
    kwargs: dict[str, Any] = {
        "embed": review_embed(pending),
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    kwargs["view"] = review_buttons(pending) if not pending.decided else None
    files = review_files(pending, clip)
    if files:
        kwargs["files"] = files
    return kwargs
