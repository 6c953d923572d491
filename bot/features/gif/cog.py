"""The GIF button under a clip: an animated GIF of it, posted in the clip's channel, that plays
inline without a click and fits the server's upload limit (``inference.animation`` makes it
smaller until it fits, and the message says what was reduced).

Anyone who can see the clip may press it (asked of the access policy); a clip that is no longer
posted (deleted, refused, rejected) is never converted. One GIF per clip: a second press, or two
at once, gets a link to the first. Conversions run one at a time on a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import io

import discord
from discord.ext import commands

from bot.access import AccessPolicy, JobAction, member_of
from bot.channels import Channels, DiscordDown, Unreachable
from bot.features.video.texts import not_served_line
from bot.fmt import size
from bot.i18n import _, for_everyone
from bot.jobs import ClipState, JobBook
from bot.ui import Router
from inference.animation import clip_to_gif
from inference.contract import JobRecord
from inference.storage import BlobStore, StorageError
from inference.video import VideoError

#: room for the multipart envelope under the upload limit
UPLOAD_MARGIN = 64 * 1024
#: what the notes say while a GIF is being made
MAKING = "making"


class GifCog(commands.Cog, name="gif"):
    """GIFs of posted clips."""

    def __init__(
        self, *, access: AccessPolicy, jobs: JobBook, channels: Channels, store: BlobStore, router: Router
    ) -> None:
        self.access, self.jobs, self.channels, self.store = access, jobs, channels, store
        self._converting = asyncio.Semaphore(1)  # CPU-bound: one at a time beside the event loop
        router.on_click("gif", self.gif_pressed)

    async def gif_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        member = member_of(interaction)
        job = await self.access.job(member, job_id, JobAction.SEE)
        await interaction.response.defer(ephemeral=True, thinking=True)
        limit = max(0, interaction.filesize_limit - UPLOAD_MARGIN)
        text = await self._gif(job, member.user_id, limit)
        await interaction.followup.send(text, ephemeral=True)

    async def _gif(self, job: JobRecord, presser: str, limit: int) -> str:
        notes = await self.jobs.notes(job.id)
        clip = job.clip()
        if notes.clip_state is not ClipState.POSTED or clip is None:
            if notes.clip_state:
                return not_served_line(job, notes)
            return _("`{job}` has no posted clip yet.", job=job.id)
        if notes.gif_message and notes.gif_message != MAKING:
            return _(
                "The GIF of `{job}` is already posted: {link}",
                job=job.id,
                link=self._link(job, notes.gif_message),
            )
        if not await self.jobs.record(job.id, only_if_new="gif", gif=MAKING):
            return _(
                "A GIF of `{job}` is being made already; it will appear in <#{channel}>.",
                job=job.id,
                channel=job.channel_id,
            )
        done = False
        try:
            try:
                mp4 = await self.store.get(clip.clip_ref)
            except StorageError:
                return _(
                    "The clip of `{job}` has expired from storage, so no GIF can be made; re-roll it.",
                    job=job.id,
                )
            async with self._converting:
                animation = await asyncio.to_thread(clip_to_gif, mp4, limit)
            if animation is None:
                return _(
                    "Even the smallest GIF of `{job}` is over this server's {size} upload limit; "
                    "the clip itself plays inline.",
                    job=job.id,
                    size=size(limit),
                )
            with for_everyone():  # the GIF's message is for the channel
                content = _(
                    "🎞️ GIF of `{job}` ({width}x{height}, {fps:g} fps), asked for by <@{user}>.",
                    job=job.id,
                    width=animation.width,
                    height=animation.height,
                    fps=animation.fps,
                    user=presser,
                ) + _reduced(animation.reduced)
            sent = await self.channels.send(
                job.channel_id,
                content=content,
                file=discord.File(io.BytesIO(animation.data), filename=f"reelbot-{job.id}.gif"),
                allowed_mentions=discord.AllowedMentions.none(),
            )
            await self.jobs.record(job.id, gif=str(sent.id))
            done = True
            posted = _("Posted the GIF ({size}): {link}", size=size(len(animation.data)), link=sent.jump_url)
            return posted + _reduced(animation.reduced)
        except VideoError:
            return _(
                "The clip of `{job}` could not be read to make a GIF; the team can look it up by job id.",
                job=job.id,
            )
        except Unreachable as exc:
            return _(
                "I cannot post the GIF in <#{channel}> ({detail}); a server admin can fix that.",
                channel=job.channel_id,
                detail=exc.detail,
            )
        except DiscordDown:
            return _("Discord did not take the GIF just now; press the button again in a minute.")
        finally:
            if not done:
                await self.jobs.forget(job.id, "gif")  # the next press tries again

    @staticmethod
    def _link(job: JobRecord, message_id: str) -> str:
        return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{message_id}"


def _reduced(reduced: tuple[str, ...]) -> str:
    """`` Reduced to fit: 480 px wide (from 720).``, or nothing when nothing was reduced."""
    if not reduced:
        return ""
    return " " + _("Reduced to fit: {what}.", what=", ".join(reduced))
