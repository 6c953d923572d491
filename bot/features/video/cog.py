"""Making videos: /video, /cancel, /job, /limits, and the Cancel, Re-roll, Remix and Delete buttons.

Thin: each command or button asks the access policy, builds a request for the pipeline (or
acts on a job), and renders the outcome. Nothing here checks limits or screens text itself.
"""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import AccessPolicy, JobAction, member_of
from bot.attachments import AttachmentInfo
from bot.channels import ChannelError, Channels, DiscordDown, Unreachable, missing_permissions
from bot.errors import UserFacingError
from bot.features.approvals.store import ApprovalStore, Kind, approval_id
from bot.features.video import choices, texts
from bot.features.video.buttons import extend_form, remix_form
from bot.features.video.replies import Replies
from bot.funnel import Funnel
from bot.guildconfig import GuildLimits
from bot.i18n import _, for_everyone
from bot.jobs import ClipState, JobBook, JobNotes
from bot.limit_messages import allowance_text
from bot.limits import LimitsService
from bot.pipeline import RequestPipeline
from bot.requests import Member, Origin, VideoRequest
from bot.snapshot import Snapshots
from bot.ui import Router
from inference.contract import LENGTHS, SHAPES, SMOOTH_FPS, JobRecord, JobStatus
from inference.recipes import EXTEND_MODEL, recipe_for
from inference.storage import BlobStore, StorageError

#: the most takes one request may ask for
MAX_TAKES = 4


class VideoCog(commands.Cog, name="video"):
    """Members make videos and manage their own."""

    def __init__(
        self,
        *,
        pipeline: RequestPipeline,
        access: AccessPolicy,
        replies: Replies,
        jobs: JobBook,
        channels: Channels,
        snapshots: Snapshots,
        limits: LimitsService,
        approvals: ApprovalStore,
        store: BlobStore,
        funnel: Funnel,
        router: Router,
    ) -> None:
        self.pipeline, self.access, self.replies, self.jobs = pipeline, access, replies, jobs
        self.channels, self.snapshots, self.limits = channels, snapshots, limits
        self.approvals, self.store, self.funnel = approvals, store, funnel
        self.defaults: GuildLimits = limits.defaults
        router.on_click("cancel", self.cancel_pressed)
        router.on_click("reroll", self.reroll_pressed)
        router.on_click("remix", self.remix_pressed)
        router.on_click("delete", self.delete_pressed)
        router.on_submit("remix-form", self.remix_submitted)
        router.on_click("extend", self.extend_pressed)
        router.on_submit("extend-form", self.extend_submitted)

    # ------------------------------------------------------------------ commands

    @app_commands.command(name="video")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What the video shows (English works best)",
        image="A PNG, JPEG or WEBP to bring to life (optional)",
        negative="What to keep out of the video",
        seed="Reuse a seed to get the same video again",
        model="Which model renders it (the ones running now)",
        enhance="Let AI write a richer prompt first: on, off, or review it before generating",
        smooth="Smoother motion: interpolate the clip to 16 or 24 frames a second (off: as rendered)",
        length="How long: 10 s clips (where a running model makes them) take twice as long and count as two",
        shape="The frame's shape (where a running model offers it): portrait, square, or your image's own",
        takes="How many versions to make at once, each with its own seed (each counts as a video)",
        extend="A job id: continue that clip from its last frame (the prompt says what happens next)",
    )
    async def video(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        image: discord.Attachment | None = None,
        negative: app_commands.Range[str, 1, 2000] | None = None,
        seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
        model: str | None = None,
        enhance: Literal["on", "off", "review"] | None = None,
        smooth: Literal["off", "16 fps", "24 fps"] | None = None,
        length: str | None = None,
        shape: str | None = None,
        takes: app_commands.Range[int, 1, MAX_TAKES] = 1,
        extend: app_commands.Range[str, 6, 32] | None = None,
    ) -> None:
        """Make a short video from a prompt, or animate an image."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = self.access.in_guild(member_of(interaction))
        attachment = None
        if image is not None:
            attachment = AttachmentInfo(image.url, image.filename, image.size, image.content_type)
        request = replace(
            _request(interaction, member, Origin.VIDEO, prompt),
            negative=negative or "",
            seed=seed,
            model=model,
            enhance=enhance,
            attachment=attachment,
            fps=_SMOOTH[smooth] if smooth is not None else None,
            length=_length(length),
            shape=_shape(shape),
            takes=takes,
        )
        if extend is not None:
            if attachment is not None or request.shape is not None or model is not None:
                raise UserFacingError(
                    _(
                        "Extend continues the clip from its last frame, in its shape, with the "
                        "image-to-video model of its family: leave out the image, shape and model options."
                    ),
                    reason="input",
                )
            source = await self.access.job(member, extend, JobAction.SEE)
            request = replace(request, **await self._extension(source))
        await self.replies.outcome(interaction, await self.pipeline.run(request))

    @video.autocomplete("length")
    async def length_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._offer(interaction, choices.lengths, current)

    @video.autocomplete("shape")
    async def shape_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._offer(interaction, choices.shapes, current)

    @video.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._offer(interaction, choices.models, current)

    async def _offer(
        self, interaction: discord.Interaction, offer: choices.Offer, current: str
    ) -> list[app_commands.Choice[str]]:
        """An option's choices from what the running models make (see :mod:`.choices`)."""

        async def produce() -> list[app_commands.Choice[str]]:
            member = self.access.in_guild(member_of(interaction))
            served = (await self.snapshots.load(member.guild_id, member.user_id)).served
            return offer(served, current)

        return await self.funnel.choices(interaction, produce)

    @app_commands.command(name="limits")
    @app_commands.guild_only()
    async def limits_command(self, interaction: discord.Interaction) -> None:
        """How many videos you can still make here, and when more become available."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = self.access.in_guild(member_of(interaction))
        snap = await self.snapshots.load(member.guild_id, member.user_id)
        policy = snap.policy(member, self.defaults)
        allowance = await self.limits.allowance(member, policy)
        await interaction.followup.send(allowance_text(allowance, policy), ephemeral=True)

    @app_commands.command(name="cancel")
    @app_commands.guild_only()
    @app_commands.describe(job="The job id, as shown when you asked for the video")
    async def cancel(self, interaction: discord.Interaction, job: app_commands.Range[str, 6, 32]) -> None:
        """Cancel one of your videos (moderators can cancel any)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(await self._cancel(interaction, job), ephemeral=True)

    @app_commands.command(name="job")
    @app_commands.guild_only()
    @app_commands.describe(id="The job id")
    async def job(self, interaction: discord.Interaction, id: app_commands.Range[str, 6, 32]) -> None:
        """Show a video again, or where it stands."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = member_of(interaction)
        record = await self.access.job(member, id, JobAction.SEE)
        await interaction.followup.send(ephemeral=True, **await self._show(record, member, interaction))

    # ------------------------------------------------------------------- buttons

    async def cancel_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(await self._cancel(interaction, job_id), ephemeral=True)

    async def reroll_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        """The same prompt with a new seed, for whoever pressed."""
        member = member_of(interaction)
        job = await self.access.job(member, job_id, JobAction.SEE)
        await interaction.response.defer(ephemeral=True, thinking=True)
        request = await self._rerun(interaction, member, job, Origin.REROLL, job.spec.prompt)
        await self.replies.outcome(interaction, await self.pipeline.run(request))

    async def remix_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await self.access.job(member_of(interaction), job_id, JobAction.SEE)
        await interaction.response.send_modal(remix_form(job.id, job.spec.original_prompt or job.spec.prompt))

    async def remix_submitted(
        self, interaction: discord.Interaction, job_id: str, values: Mapping[str, str]
    ) -> None:
        """The edited prompt, for whoever submitted the form."""
        member = member_of(interaction)
        job = await self.access.job(member, job_id, JobAction.SEE)
        prompt = _typed_prompt(values, _("The prompt is empty; write what the video shows."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        request = await self._rerun(interaction, member, job, Origin.REMIX, prompt)
        await self.replies.outcome(interaction, await self.pipeline.run(request))

    async def extend_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        """The form to continue a clip: the prompt of what happens next, the clip's own to start."""
        job = await self.access.job(member_of(interaction), job_id, JobAction.SEE)
        await self._extension(job)  # refused here, before the form, when it cannot be extended
        await interaction.response.send_modal(
            extend_form(job.id, job.spec.original_prompt or job.spec.prompt)
        )

    async def extend_submitted(
        self, interaction: discord.Interaction, job_id: str, values: Mapping[str, str]
    ) -> None:
        """A continuation of the clip, for whoever submitted the form."""
        member = member_of(interaction)
        job = await self.access.job(member, job_id, JobAction.SEE)
        prompt = _typed_prompt(values, _("The prompt is empty; write what happens next."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        notes = await self.jobs.notes(job.id)
        request = await self._rerun(interaction, member, job, Origin.EXTEND, prompt, notes)
        extension = await self._extension(job, notes)
        request = replace(request, image_ref=None, length=None, shape=None, **extension)
        await self.replies.outcome(interaction, await self.pipeline.run(request))

    async def delete_pressed(self, interaction: discord.Interaction, job_id: str) -> None:
        """Take the clip down and out of storage (its member or a moderator), once."""
        member = member_of(interaction)
        job = await self.access.job(member, job_id, JobAction.DELETE)
        if not await self.jobs.claim_deletion(job.id, member.user_id):
            notes = await self.jobs.notes(job.id)
            raise UserFacingError(
                _("The clip of `{job}` was already deleted by <@{user}>.", job=job.id, user=notes.deleted_by)
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        notes = await self.jobs.notes(job.id)
        message_id = notes.clip_message or (str(interaction.message.id) if interaction.message else None)
        kept = ""
        try:
            if message_id:
                await self.channels.delete(job.channel_id, message_id)
        except DiscordDown:
            await self.jobs.forget(job.id, "deleted_by")  # nothing happened: it can be pressed again
            raise UserFacingError(
                _("Discord did not take the deletion just now; press Delete again in a minute.")
            ) from None
        except Unreachable:
            kept = " " + _("I could not remove the message itself (a missing permission); a moderator can.")
        await self.jobs.remove_clip(job, ClipState.DELETED)
        if notes.status_message:
            # the clip is gone; an outdated status line is not worth failing for
            with for_everyone():  # the status message is for the channel
                line = texts.deleted_line(job)
            with contextlib.suppress(ChannelError):
                await self.channels.edit(job.channel_id, notes.status_message, content=line)
        await interaction.followup.send(_("Deleted the clip of `{job}`.", job=job.id) + kept, ephemeral=True)

    # ------------------------------------------------------------------- helpers

    async def _cancel(self, interaction: discord.Interaction, job_id: str) -> str:
        job = await self.access.job(member_of(interaction), job_id, JobAction.CANCEL)
        if job.status.terminal:
            raise UserFacingError(
                _(
                    "Job `{job}` has already {status}; there is nothing to cancel.",
                    job=job.id,
                    status=texts.status_word(job.status),
                )
            )
        outcome = await self.pipeline.queue.cancel(job.id)
        if outcome == "cancelled":
            return _("Cancelled `{job}`.", job=job.id)
        if outcome == "cancelling":
            return _("Stopping `{job}`: it ends at its next step.", job=job.id)
        return _("Job `{job}` had already {status}.", job=job.id, status=texts.status_word(outcome))

    async def _extension(self, job: JobRecord, notes: JobNotes | None = None) -> dict[str, Any]:
        """The request fields that continue ``job``'s clip (its last frame, its model family's
        image-to-video model, its frame rate).

        Raises:
            UserFacingError: the clip is not posted (or no longer stored), so it cannot be extended.
        """
        clip = job.clip()
        notes = notes or await self.jobs.notes(job.id)
        if clip is None or notes.clip_state is not ClipState.POSTED:
            raise UserFacingError(
                _(
                    "Only a posted clip can be extended, and the clip of `{job}` is not: {reason}",
                    job=job.id,
                    reason=texts.not_served_line(job, notes) if clip is not None else _("it was not made."),
                ),
                reason="input",
            )
        model = EXTEND_MODEL[job.spec.model]
        rendered_fps = recipe_for(model).fps
        # the continuation is smoothed exactly as the clip was, so that the two join
        fps = int(clip.fps) if clip.fps > rendered_fps and int(clip.fps) in SMOOTH_FPS else 0
        return {"extend_of": job.id, "extend_ref": clip.clip_ref, "model": model.value, "fps": fps}

    async def _rerun(
        self,
        interaction: discord.Interaction,
        member: Member,
        job: JobRecord,
        origin: Origin,
        prompt: str,
        notes: JobNotes | None = None,
    ) -> VideoRequest:
        """A request for a new video from ``job``: the same words for a Re-roll, new ones for a
        Remix or an Extend (``notes``: the job's, when the caller has read them already)."""
        notes = notes or await self.jobs.notes(job.id)
        base = _request(interaction, member, origin, prompt)
        reroll = origin is Origin.REROLL
        original = job.spec.original_prompt if reroll else None
        return replace(
            base,
            original_prompt=original,
            rewritten=reroll and original is not None and original != prompt,
            # a Re-roll renders the same English: its card still says the prompt was translated
            translated_from=notes.translated if reroll else None,
            negative=job.spec.negative_prompt,
            seed=secrets.randbelow(2**32),
            model=job.spec.model.value,
            fps=job.spec.fps,
            length=job.spec.length,
            shape=job.spec.shape,
            extend_ref=job.spec.extend_ref,
            extend_of=notes.extends if job.spec.extend_ref else None,
            image_ref=job.spec.image_ref,
            flags=notes.flags,
            # a Re-roll of someone else's clip renders their words: refusing it is no strike
            authored=not reroll or job.user_id == member.user_id,
            source_job=job.id,
        )

    async def _show(self, job: JobRecord, member: Member, interaction: discord.Interaction) -> dict[str, Any]:
        """What /job shows: where a job stands, or its clip where moderation allowed it."""
        clip = job.clip()
        if job.status is not JobStatus.SUCCEEDED or clip is None:
            status = texts.status_word(job.status)
            if job.error:
                return {
                    "content": _(
                        "Job `{job}` is {status}: {error}", job=job.id, status=status, error=job.error
                    )
                }
            return {"content": _("Job `{job}` is {status}.", job=job.id, status=status)}
        notes = await self.jobs.notes(job.id)
        state = notes.clip_state
        spoiler, note = False, ""
        if state is ClipState.HELD and await self.access.is_moderator(member):
            pending = await self.approvals.get(approval_id(Kind.CLIP, job.id))
            reasons = pending.reasons if pending is not None else _("it waits for a moderator")
            note = _(
                "This clip waits for a moderator's approval ({reasons}); it is not posted.", reasons=reasons
            )
            spoiler = True
        elif state is not ClipState.POSTED:
            return {"content": texts.not_served_line(job, notes)}
        try:
            data = await self.store.get(clip.clip_ref)
        except StorageError:
            return {
                "content": _(
                    "The clip of `{job}` has expired from storage; re-roll it to make it again.", job=job.id
                )
            }
        kwargs: dict[str, Any] = {"embed": texts.clip_embed(job, clip, notes), "content": note or None}
        name = f"{'SPOILER_' if spoiler else ''}reelbot-{job.id}.mp4"
        if len(data) <= interaction.filesize_limit:
            kwargs["file"] = discord.File(io.BytesIO(data), filename=name, spoiler=spoiler)
        elif not spoiler:
            kwargs["content"] = clip.clip_url or _("The clip is larger than this server's upload limit.")
        return kwargs


#: ``/video smooth:`` choices -> the frame rate asked of the worker (0: as rendered)
_SMOOTH = {"off": 0, "16 fps": 16, "24 fps": 24}


def _typed_prompt(values: Mapping[str, str], empty: str) -> str:
    """The prompt a form's member typed; ``empty`` is the refusal when there is none."""
    prompt = values.get("prompt", "").strip()
    if not prompt:
        raise UserFacingError(empty, reason="input")
    return prompt


def _length(value: str | None) -> int | None:
    """``/video length:`` (a number of standard clips, as the autocomplete offers them)."""
    if value is None:
        return None
    if value.strip() not in {str(n) for n in LENGTHS}:
        raise UserFacingError(
            _(
                "`{value}` is not a length I know: pick one the length option offers (5 s or 10 s).",
                value=value,
            ),
            reason="input",
        )
    return int(value)


def _shape(value: str | None) -> str | None:
    """``/video shape:`` (one of the shapes the autocomplete offers)."""
    if value is None:
        return None
    if value.strip() not in SHAPES:
        raise UserFacingError(
            _(
                "`{value}` is not a shape I know: pick landscape, portrait, square or the image's own.",
                value=value,
            ),
            reason="input",
        )
    return value.strip()


def _request(interaction: discord.Interaction, member: Member, origin: Origin, prompt: str) -> VideoRequest:
    """The request fields every entry point takes from its interaction."""
    return VideoRequest(
        request_id=str(interaction.id),
        origin=origin,
        member=member,
        channel_id=str(interaction.channel_id),
        prompt=prompt,
        age_restricted=bool(getattr(interaction.channel, "nsfw", False)),
        missing_permissions=tuple(missing_permissions(interaction.app_permissions)),
        settled=origin is not Origin.VIDEO,
    )
