"""/history: a member's recent clips in this guild, newest first, paged with buttons.

Members list their own clips; moderators anyone's (asked of the access policy, by the command
and by every page button). Only clips that were posted and are still up are listed: a clip the
filter refused, one a moderator held or rejected, and one deleted with the Delete button never
appear. Entries are kept as long as job records are (``REELBOT_RETENTION_SECONDS``, 7 days by
default), at most 200 per member.

The page buttons carry the member and the page in their custom id
(``reelbot:history:<user id>p<page>``), so they work after a restart like every other button.
"""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import AccessPolicy, member_of
from bot.errors import UserFacingError
from bot.fmt import clip_text, relative
from bot.i18n import _
from bot.jobs import JobBook, JobNotes
from bot.ui import Component, Router
from inference.contract import ContractError, JobRecord

#: clips per page
PAGE_SIZE = 5
#: how much of a prompt a line shows
PROMPT_CHARS = 120
_NO_PINGS = discord.AllowedMentions.none()
_TARGET = re.compile(r"(?P<user>[0-9]{1,20})p(?P<page>[0-9]{1,4})")


class HistoryCog(commands.Cog, name="history"):
    """Members' posted clips."""

    def __init__(self, *, access: AccessPolicy, jobs: JobBook, router: Router) -> None:
        self.access, self.jobs = access, jobs
        router.on_click("history", self.page_pressed)

    @app_commands.command(name="history")
    @app_commands.guild_only()
    @app_commands.describe(member="Whose videos (moderators only; yours when left out)")
    async def history(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        """Your recent videos in this server, newest first, with links to them."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        asker = member_of(interaction)
        subject = str(member.id) if member is not None else asker.user_id
        await self.access.history(asker, subject)
        content, view = await self._page(asker.guild_id, subject, asker.user_id, 1)
        if view is None:
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=_NO_PINGS)
        else:
            await interaction.followup.send(content, view=view, ephemeral=True, allowed_mentions=_NO_PINGS)

    async def page_pressed(self, interaction: discord.Interaction, target: str) -> None:
        match = _TARGET.fullmatch(target)
        if match is None:
            raise UserFacingError(_("This button no longer does anything; run /history again."))
        asker = member_of(interaction)
        await self.access.history(asker, match["user"])
        content, view = await self._page(asker.guild_id, match["user"], asker.user_id, int(match["page"]))
        await interaction.response.edit_message(content=content, view=view, allowed_mentions=_NO_PINGS)

    async def _page(
        self, guild_id: str, subject: str, asker: str, page: int
    ) -> tuple[str, discord.ui.View | None]:
        clips = await self.jobs.history(guild_id, subject)
        own = subject == asker
        if not clips:
            if own:
                none = _("You have no posted videos in this server in the last {kept}.", kept=self._kept())
            else:
                none = _(
                    "<@{member}> has no posted videos in this server in the last {kept}.",
                    member=subject,
                    kept=self._kept(),
                )
            return none, None
        pages = (len(clips) + PAGE_SIZE - 1) // PAGE_SIZE
        page = min(max(page, 1), pages)
        shown = clips[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        numbers = {"page": page, "pages": pages, "count": len(clips)}
        if own:
            title = _(
                "**Your videos in this server**, newest first (page {page} of {pages}, {count} in all):",
                **numbers,
            )
        else:
            title = _(
                "**<@{member}>'s videos in this server**, newest first "
                "(page {page} of {pages}, {count} in all):",
                member=subject,
                **numbers,
            )
        lines = [title]
        lines += [_line(job, notes, posted_at) for job, notes, posted_at in shown]
        lines.append(_("Videos are listed for {kept} after they are made.", kept=self._kept()))
        view = None
        if pages > 1:
            view = discord.ui.View(timeout=None)
            if page > 1:
                view.add_item(Component("history", f"{subject}p{page - 1}", label=_("Newer"), emoji="◀️"))
            if page < pages:
                view.add_item(Component("history", f"{subject}p{page + 1}", label=_("Older"), emoji="▶️"))
        return clip_text("\n".join(lines)), view

    def _kept(self) -> str:
        days = self.jobs.retention / 86400
        if days >= 1:
            return _("{days:g} days", days=days)
        return _("{hours:g} hours", hours=self.jobs.retention / 3600)


def _line(job: JobRecord, notes: JobNotes, posted_at: float) -> str:
    # one line, and no brackets that would end the link's text early
    prompt = " ".join(job.spec.prompt.split()).replace("[", "(").replace("]", ")")
    prompt = discord.utils.escape_markdown(clip_text(prompt, PROMPT_CHARS))
    try:
        clip = job.clip()
    except ContractError:
        clip = None
    seed = clip.seed if clip is not None else job.spec.seed
    used = (
        _("`{model}`, seed {seed}", model=job.spec.model, seed=seed)
        if seed is not None
        else f"`{job.spec.model}`"
    )
    link = f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{notes.clip_message}"
    return f"• {relative(posted_at)}: {used}: [{prompt}]({link})"
