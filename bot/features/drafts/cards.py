"""What a member sees of their prompt draft: both prompts, the buttons, the edit form. Pure."""

from __future__ import annotations

import discord

from bot.features.drafts.store import DRAFT_SECONDS, Draft
from bot.fmt import clip_text
from bot.ui import Component, Field, form

_COLOUR = 0x5865F2
SHORTENED = "The enhanced prompt was shortened to fit the video model."


def draft_embed(draft: Draft) -> discord.Embed:
    """Both prompts side by side, with what each button does."""
    title = "Enhanced prompt" if draft.differs else "Your prompt"
    embed = discord.Embed(title=title, description=clip_text(draft.enhanced, 4000), colour=_COLOUR)
    if draft.differs:
        embed.add_field(name="Your words", value=clip_text(draft.original, 1000), inline=False)
        how = (
            "**Generate** renders the enhanced prompt, **Edit** lets you change it first, "
            "**Use original** renders your words."
        )
    else:
        how = "**Generate** renders it, **Edit** lets you change it first."
    if draft.shortened:
        embed.add_field(name="Note", value=SHORTENED, inline=False)
    if draft.note:
        embed.add_field(name="Note", value=draft.note, inline=False)
    embed.add_field(name="What next", value=f"{how} This waits {DRAFT_SECONDS // 60} minutes.", inline=False)
    embed.set_footer(text=f"draft {draft.draft_id}")
    return embed


def draft_buttons(draft: Draft) -> discord.ui.View:
    """Generate and Edit, and Use original when there is an enhanced prompt to choose against."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        Component("draft-go", draft.draft_id, label="Generate", emoji="🎬", style=discord.ButtonStyle.primary)
    )
    view.add_item(Component("draft-edit", draft.draft_id, label="Edit", emoji="✏️"))
    if draft.differs:
        view.add_item(Component("draft-orig", draft.draft_id, label="Use original"))
    return view


def edit_form(draft: Draft) -> discord.ui.Modal:
    """The enhanced prompt, editable; submitting renders the edit."""
    return form("draft-form", draft.draft_id, "Edit the prompt", Field("prompt", "Prompt", draft.enhanced))


CHOSEN = {"enhanced": "the enhanced prompt", "original": "your words", "edited": "your edit"}
