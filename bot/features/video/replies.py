"""Telling a member what became of their request: the private reply, and the status message in the
channel for a queued job. Every entry point that makes a video for the member who pressed it
(/video, Re-roll, Remix, a draft's buttons) answers through here."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import Any

import discord

from bot.channels import ChannelError, Channels, Unreachable
from bot.features.drafts.cards import draft_buttons, draft_embed
from bot.features.drafts.store import Draft
from bot.features.video import texts
from bot.features.video.buttons import status_buttons
from bot.fmt import clip_text
from bot.i18n import _, for_everyone
from bot.jobs import JobBook
from bot.requests import Drafted, Held, Outcome, Queued

log = logging.getLogger(__name__)


class Replies:
    """Answers the member who asked, and puts a queued job's status message in the channel."""

    def __init__(self, channels: Channels, jobs: JobBook) -> None:
        self.channels, self.jobs = channels, jobs

    async def outcome(self, interaction: discord.Interaction, outcome: Outcome) -> None:
        if isinstance(outcome, Queued):
            await self.queued(interaction, outcome)
        elif isinstance(outcome, Held):
            await self.held(interaction, outcome)
        else:
            await self.drafted(interaction, outcome)

    async def queued(self, interaction: discord.Interaction, queued: Queued) -> None:
        job = queued.job
        if queued.replayed:
            await interaction.followup.send(_("Already queued as `{job}`.", job=job.id), ephemeral=True)
            return
        place = ""
        if queued.position is not None:
            ahead = queued.position.ahead
            place = " " + (_("You are next.") if ahead == 0 else _("{ahead} ahead of you.", ahead=ahead))
        text = _("Queued `{job}` with `{model}`.", job=job.id, model=job.spec.model) + place
        if len(queued.jobs) > 1:
            text = (
                _(
                    "Queued {count} takes with `{model}`: {jobs}, each with its own seed. "
                    "Each is posted when it is ready; keep the one you like.",
                    count=len(queued.jobs),
                    model=job.spec.model,
                    jobs=", ".join(f"`{j.id}`" for j in queued.jobs),
                )
                + place
            )
        if job.spec.extend_ref:
            text += " " + _("It continues the clip from its last frame; the posted clip is the two joined.")
        if queued.enhancement is not None:
            text += texts.enhancement_lines(queued.enhancement)
        # the member hears first: the status message waits its turn in the channel's rate limit
        # (Discord takes about 5 messages per 5 s in one channel), which a busy channel can fill
        await self._send(
            interaction, text, queued.preview, " " + _("This is the part of your image the video will show.")
        )
        note = await self.post_statuses(job.channel_id, queued, interaction.user)
        if note:
            await interaction.followup.send(note.strip(), ephemeral=True)

    async def post_statuses(self, channel_id: str, queued: Queued, mention: Any, prefix: str = "") -> str:
        """Post the status message of every take (one for a request of one); returns the first
        note for the member about one that could not be posted."""
        notes = []
        for number, take in enumerate(queued.jobs, 1):
            label = ""
            if len(queued.jobs) > 1:
                with for_everyone():  # the status message is for the channel
                    label = _("Take {number} of {total}:", number=number, total=len(queued.jobs)) + " "
            one = replace(queued, job=take, position=queued.position if number == 1 else None)
            notes.append(await self.post_status(channel_id, one, mention, prefix + label))
        return next((n for n in notes if n), "")

    async def post_status(self, channel_id: str, queued: Queued, mention: Any, prefix: str = "") -> str:
        """Post the job's status message (with Cancel) and record it; returns a note for the
        member when it could not be posted."""
        job = queued.job
        with for_everyone():  # the status message is for the channel
            content = prefix + texts.queued_line(job, queued.position)
            view = status_buttons(job.id)
        try:
            status = await self.channels.send(
                channel_id,
                content=content,
                view=view,
                allowed_mentions=discord.AllowedMentions(users=[mention]),
            )
        except Unreachable:
            return "\n" + _("I could not post its status here (missing permission); the clip may not arrive.")
        except ChannelError as exc:
            # the job is queued: a status message lost to a Discord hiccup is no reason to fail
            log.warning("job %s: could not post its status message: %s", job.id, exc)
            return "\n" + _(
                "I could not post its status in the channel just now; the clip will still be posted."
            )
        await self.jobs.record(job.id, only_if_new="status", status=str(status.id))
        return ""

    async def held(self, interaction: discord.Interaction, held: Held) -> None:
        text = _(
            "Your video `{job}` waits for a moderator's approval ({reasons}). "
            "You will be mentioned here when they decide.",
            job=held.job_id,
            reasons=held.reasons,
        )
        if held.enhancement is not None:
            text += texts.enhancement_lines(held.enhancement)
        await interaction.followup.send(clip_text(text), ephemeral=True)

    async def drafted(self, interaction: discord.Interaction, drafted: Drafted) -> None:
        draft = Draft(
            draft_id=drafted.draft_id,
            request=drafted.request,
            original=drafted.enhancement.original,
            enhanced=drafted.enhancement.prompt,
            note=drafted.enhancement.note,
            shortened=drafted.enhancement.shortened,
            summary=drafted.enhancement.summary,
        )
        kwargs: dict[str, Any] = {"embed": draft_embed(draft), "view": draft_buttons(draft)}
        if drafted.preview is not None:
            kwargs["file"] = discord.File(io.BytesIO(drafted.preview), "preview.png")
        await interaction.followup.send(ephemeral=True, **kwargs)

    @staticmethod
    async def _send(interaction: discord.Interaction, text: str, preview: bytes | None, about: str) -> None:
        if preview is None:
            await interaction.followup.send(text, ephemeral=True)
            return
        file = discord.File(io.BytesIO(preview), "preview.png")
        await interaction.followup.send(text + about, ephemeral=True, file=file)
