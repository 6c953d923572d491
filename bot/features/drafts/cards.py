"""What a member sees of their prompt draft: both prompts, the buttons, the edit form. Pure."""

from __future__ import annotations

import discord

from bot.features.drafts.store import DRAFT_SECONDS, Draft
from bot.fmt import clip_text
from bot.i18n import N_, _
from bot.ui import Component, Field, form

_COLOUR = 0x5865F2
SHORTENED = N_("The enhanced prompt was shortened to fit the video model.")


def draft_embed(draft: Draft) -> discord.Embed:
    """Both prompts side by side, with what each button does."""
    title = _("Enhanced prompt") if draft.differs else _("Your prompt")
    embed = discord.Embed(title=title, description=clip_text(draft.enhanced, 4000), colour=_COLOUR)
    if draft.differs:
        embed.add_field(name=_("Your words"), value=clip_text(draft.original, 1000), inline=False)
        if draft.summary:
            embed.add_field(name=_("In short"), value=clip_text(draft.summary, 300), inline=False)
        how = _(
            "**Generate** renders the enhanced prompt, **Edit** lets you change it first, "
            "**Use original** renders your words."
        )
    else:
        how = _("**Generate** renders it, **Edit** lets you change it first.")
    if draft.shortened:
        embed.add_field(name=_("Note"), value=_(SHORTENED), inline=False)
    if draft.note:
        # built in the member's language when the request was drafted
        embed.add_field(name=_("Note"), value=draft.note, inline=False)
    waits = _("This waits {minutes} minutes.", minutes=DRAFT_SECONDS // 60)
    embed.add_field(name=_("What next"), value=f"{how} {waits}", inline=False)
    embed.set_footer(text=_("draft {draft}", draft=draft.draft_id))
    return embed


def draft_buttons(draft: Draft) -> discord.ui.View:
    """Generate and Edit, and Use original when there is an enhanced prompt to choose against."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        Component(
            "draft-go", draft.draft_id, label=_("Generate"), emoji="🎬", style=discord.ButtonStyle.primary
        )
    )
    view.add_item(Component("draft-edit", draft.draft_id, label=_("Edit"), emoji="✏️"))
    if draft.differs:
        view.add_item(Component("draft-orig", draft.draft_id, label=_("Use original")))
    return view


def edit_form(draft: Draft) -> discord.ui.Modal:
    """The enhanced prompt, editable; submitting renders the edit."""
    return form(
        "draft-form", draft.draft_id, _("Edit the prompt"), Field("prompt", _("Prompt"), draft.enhanced)
    )


#: what the draft's card says while the chosen prompt is on its way, by choice
CHOSEN = {
    "enhanced": N_("Generating with the enhanced prompt."),
    "original": N_("Generating with your words."),
    "edited": N_("Generating with your edit."),
}
