"""The private prompt review of ``/video enhance:review``: Generate, Edit (a form) and Use original.

The buttons carry the review id in their ``custom_id`` (``reelbot:review-go:<id>``), like the
clip buttons, so a review shown before a restart still works after it. Only the member who
asked may decide, and a review is decided once (see :mod:`bot.reviews`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.errors import UserFacingError
from bot.messages import clip_text
from bot.reviews import REVIEW_SECONDS, PendingVideo
from bot.views import IdButton, PromptForm, run_safely

if TYPE_CHECKING:
    from bot.app import ReelBot

_ID = r"(?P<job>[0-9a-z]{6,32})"
_COLOUR = 0x5865F2
SHORTENED = "The enhanced prompt was shortened to fit the video model."


def _bot(interaction: discord.Interaction) -> ReelBot:
    return interaction.client  # type: ignore[return-value]


def review_embed(pending: PendingVideo) -> discord.Embed:
    """Both prompts side by side, with what each button does."""
    title = "Enhanced prompt" if pending.differs else "Your prompt"
    embed = discord.Embed(title=title, description=clip_text(pending.enhanced, 4000), colour=_COLOUR)
    if pending.differs:
        embed.add_field(name="Your words", value=clip_text(pending.original, 1000), inline=False)
        how = (
            "**Generate** renders the enhanced prompt, **Edit** lets you change it first, "
            "**Use original** renders your words."
        )
    else:
        how = "**Generate** renders it, **Edit** lets you change it first."
    if pending.shortened:
        embed.add_field(name="Note", value=SHORTENED, inline=False)
    if pending.note:
        embed.add_field(name="Note", value=pending.note, inline=False)
    embed.add_field(name="What next", value=f"{how} This waits {REVIEW_SECONDS // 60} minutes.", inline=False)
    embed.set_footer(text=f"review {pending.review_id}")
    return embed


def review_buttons(pending: PendingVideo) -> discord.ui.View:
    """Generate and Edit, and Use original when there is an enhanced prompt to choose against."""
    view = discord.ui.View(timeout=None)
    view.add_item(GenerateButton(pending.review_id))
    view.add_item(EditButton(pending.review_id))
    if pending.differs:
        view.add_item(UseOriginalButton(pending.review_id))
    return view


async def _decide(interaction: discord.Interaction, review_id: str, choice: str, edited: str = "") -> None:
    """Take the review, queue its video and announce it; on a refusal, offer the review again."""
    bot = _bot(interaction)
    prompts = bot.service.prompts
    pending, request = await prompts.take(review_id, str(interaction.user.id), choice, edited)
    chosen = {"enhanced": "the enhanced prompt", "original": "your words", "edited": "your edit"}[choice]
    if interaction.message is not None and interaction.type is discord.InteractionType.component:
        await interaction.response.edit_message(content=f"Generating with {chosen}.", view=None)
    else:
        await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        outcome = await bot.reviews.submit_or_hold(request, [f for f in pending.flags.split("; ") if f])
    except UserFacingError:
        await prompts.give_back(pending)
        if interaction.message is not None and interaction.type is discord.InteractionType.component:
            await interaction.edit_original_response(content=None, view=review_buttons(pending))
        raise
    await bot.respond(interaction, outcome)


class GenerateButton(IdButton, template=rf"reelbot:review-go:{_ID}"):
    """Render the enhanced prompt (or the member's words when there is none)."""

    action, label, emoji, style = "review-go", "Generate", "🎬", discord.ButtonStyle.primary

    async def callback(self, interaction: discord.Interaction) -> None:
        await run_safely(interaction, lambda: _decide(interaction, self.job_id, "enhanced"))


class UseOriginalButton(IdButton, template=rf"reelbot:review-orig:{_ID}"):
    """Render the member's own words."""

    action, label = "review-orig", "Use original"

    async def callback(self, interaction: discord.Interaction) -> None:
        await run_safely(interaction, lambda: _decide(interaction, self.job_id, "original"))


class EditButton(IdButton, template=rf"reelbot:review-edit:{_ID}"):
    """A form pre-filled with the enhanced prompt."""

    action, label, emoji = "review-edit", "Edit", "✏️"

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act() -> None:
            pending = await _bot(interaction).service.prompts.peek(self.job_id, str(interaction.user.id))
            await interaction.response.send_modal(ReviewModal(pending.review_id, pending.enhanced))

        await run_safely(interaction, act)


class ReviewModal(PromptForm, title="Edit the prompt"):
    """The enhanced prompt, editable; submitting renders the edit."""

    def __init__(self, review_id: str, prompt: str) -> None:
        super().__init__(f"reelbot:review-form:{review_id}", prompt)
        self.review_id = review_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        edited = self.prompt.value
        await run_safely(interaction, lambda: _decide(interaction, self.review_id, "edited", edited))


REVIEW_ITEMS: tuple[type[IdButton], ...] = (GenerateButton, UseOriginalButton, EditButton)
