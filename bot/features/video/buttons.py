"""The buttons under a status message and a clip, and the Remix form. Pure: builds views.

Each button's custom id carries its job id (``reelbot:reroll:<job>``), so buttons on old
messages keep working after a restart; who may press is decided when they press
(:mod:`bot.access`), never when the button is drawn.
"""

from __future__ import annotations

import discord

from bot.i18n import _
from bot.ui import Component, Field, form


def status_buttons(job_id: str) -> discord.ui.View:
    """Under a status message: Cancel."""
    view = discord.ui.View(timeout=None)
    view.add_item(Component("cancel", job_id, label=_("Cancel"), style=discord.ButtonStyle.danger))
    return view


def clip_buttons(job_id: str, extend: bool = False) -> discord.ui.View:
    """Under a clip: Re-roll, Remix, Extend (where an image-to-video model of its family runs),
    GIF, Delete."""
    view = discord.ui.View(timeout=None)
    view.add_item(Component("reroll", job_id, label=_("Re-roll"), emoji="🎲"))
    view.add_item(Component("remix", job_id, label=_("Remix"), emoji="✏️"))
    if extend:
        view.add_item(Component("extend", job_id, label=_("Extend"), emoji="⏩"))
    view.add_item(Component("gif", job_id, label=_("GIF"), emoji="🎞️"))
    view.add_item(Component("delete", job_id, label=_("Delete"), emoji="🗑️"))
    return view


def remix_form(job_id: str, prompt: str) -> discord.ui.Modal:
    """The prompt, editable; submitting queues a new video for whoever submits."""
    return form("remix-form", job_id, _("Remix this video"), Field("prompt", _("Prompt"), prompt))


def extend_form(job_id: str, prompt: str) -> discord.ui.Modal:
    """What happens next (the clip's prompt to start); submitting queues the continuation."""
    return form(
        "extend-form", job_id, _("Extend this video"), Field("prompt", _("What happens next"), prompt)
    )
