"""Turning one job event into Discord messages: status edits, and the clip, posted exactly once.

The clip is posted as an ordinary channel message with the bot token, not through the
interaction (whose token dies after 15 minutes), so a job that takes an hour still arrives.
Exactly once: the message carries a nonce Discord enforces (a retry returns the first message),
and its id is recorded before the event is acknowledged. A posted clip is charged to the
guild's daily quota; one that cannot be posted is refunded. Before posting, the content filter
judges the clip with the guild's thresholds: a blocked clip is refused (and removed from
storage) before it is even downloaded, a flagged one goes to the moderators.

Every method is safe to run again for the same event: a failure that may pass (Discord down,
Redis or storage unavailable) raises :class:`DeliveryFailed` or lets the Redis error through,
and the event is handled again later (:mod:`bot.delivery.loop`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass
from typing import Any

import discord

from bot.channels import Channels, DiscordDown, Unreachable
from bot.features.approvals.holds import Holds, ReviewChannelMissing
from bot.features.video import texts
from bot.features.video.buttons import clip_buttons, status_buttons
from bot.fmt import size
from bot.i18n import _
from bot.jobs import ClipState, JobBook, JobNotes
from bot.moderation import Moderation
from bot.notices import AdminNotices
from bot.observability import BotMetrics
from bot.screening import Action
from inference.contract import ClipResult, ContractError, EventType, JobEvent, JobRecord
from inference.jobqueue import JobNotFound, JobQueue
from inference.recipes import EXTEND_MODEL
from inference.storage import BlobNotFound, BlobStore, StorageError
from inference.video import fit_mp4

log = logging.getLogger(__name__)

#: leave room for the multipart envelope under the upload limit
_UPLOAD_MARGIN = 64 * 1024


class DeliveryFailed(Exception):
    """The event cannot be handled now (Discord or storage is down); handle it again later."""


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    #: the status message is edited at most once per this many seconds
    status_edit_seconds: float = 5.0
    #: clips larger than this are re-encoded or linked (0 = the guild's own upload limit)
    max_upload_bytes: int = 0


class Deliverer:
    """Keeps each job's messages in its channel up to date."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        jobs: JobBook,
        channels: Channels,
        holds: Holds,
        moderation: Moderation,
        notices: AdminNotices,
        store: BlobStore,
        metrics: BotMetrics,
        settings: DeliverySettings,
    ) -> None:
        self.queue, self.jobs, self.channels, self.holds = queue, jobs, channels, holds
        self.moderation, self.notices, self.store = moderation, notices, store
        self.metrics, self.settings = metrics, settings
        self._last_edit: dict[str, float] = {}
        #: channels whose status messages the bot could not update (logged once each)
        self._unreachable: set[str] = set()

    async def handle(self, event: JobEvent) -> None:
        """Act on one event.

        Raises:
            DeliveryFailed, RedisError: try again later.
        """
        since = time.monotonic() - self._last_edit.get(event.job_id, 0.0)
        if event.type is EventType.PROGRESS and since < self.settings.status_edit_seconds:
            return  # Discord rate-limits edits; the next one carries the news
        try:
            job = await self.queue.get(event.job_id)
        except JobNotFound:
            return
        if event.type is EventType.PROGRESS:
            step, total = int(event.data.get("step", 0)), int(event.data.get("total", 1))
            await self._status(job, texts.rendering_line(job, step, total), keep_buttons=True)
        elif event.type is EventType.RUNNING:
            await self._status(job, texts.started_line(job), keep_buttons=True)
        elif event.type is EventType.REQUEUED:
            await self._status(job, texts.requeued_line(job), keep_buttons=True)
        elif event.type is EventType.SUCCEEDED:
            await self.post_clip(job)
        elif event.type is EventType.FAILED:
            await self._status(
                job, texts.failed_line(job, job.error or _("unknown error")), post_if_missing=True
            )
            await self.jobs.remove_input(job)  # it ended without a clip
        elif event.type is EventType.CANCELLED:
            await self._status(job, texts.cancelled_line(job))
            await self.jobs.remove_input(job)
        if event.type.final:
            self._last_edit.pop(job.id, None)

    async def post_clip(self, job: JobRecord, *, approved: bool = False) -> None:
        """Post the finished clip once, unless the filter refuses it or a moderator must see it
        first; then point the status message at it."""
        notes = await self.jobs.notes(job.id)
        if notes.clip_message:
            await self.jobs.settle(job, delivered=True)  # in case a restart came in between
            return
        if notes.clip_state is not None and (notes.clip_state is not ClipState.HELD or not approved):
            return  # decided before a restart: refused, held, rejected or deleted
        clip = job.clip()  # a result the bot cannot read raises ContractError: not worth retrying
        if clip is None:
            raise ContractError(f"job {job.id} succeeded without a result")
        try:
            channel = await self.channels.get(job.channel_id)
        except Unreachable as exc:
            await self._unpostable(job, exc.detail)
            return
        hold = None if approved else await self._judge(job, bool(getattr(channel, "nsfw", False)))
        if hold is _REFUSED:
            return  # decided before fetching the clip: a blocked one is never even downloaded
        limit = self._upload_limit(channel)
        payload, link = await self._clip_for(clip, limit - min(_UPLOAD_MARGIN, limit // 8))
        if hold is not None:
            await self._hold(job, hold, payload)
        elif payload is None and link is None:
            await self._too_big(job, clip, limit)
        else:
            await self._post(job, clip, payload, link, notes)

    async def refuse(self, job: JobRecord, reason: str, state: ClipState = ClipState.REFUSED) -> None:
        """The clip will never be posted: say why, remove it from storage, refund it."""
        self.metrics.deliveries.labels("refused").inc()
        await self._status(job, texts.not_posted_line(job, reason), post_if_missing=True)
        await self.jobs.remove_clip(job, state, reason)
        await self.jobs.settle(job, delivered=False)

    # ------------------------------------------------------------------- steps

    async def _judge(self, job: JobRecord, age_restricted: bool) -> str | None:
        """The filter on the clip: None to post it, why a moderator must see it first, or
        ``_REFUSED`` once a blocked clip has been refused."""
        config = await self.moderation.config(job.guild_id)
        verdict = self.moderation.check_clip(job.clip(), config, age_restricted)
        if verdict.action is Action.BLOCK:
            await self.moderation.strike(job.guild_id, job.user_id)
            await self.refuse(job, _("{reason}, so it was not posted", reason=verdict.reason))
            return _REFUSED
        standing = await self.moderation.standing(job.guild_id, job.user_id)
        return self.moderation.hold_reason(config.before_posting, verdict, standing, "clip")

    async def _hold(self, job: JobRecord, reasons: str, payload: bytes | None) -> None:
        config = await self.moderation.config(job.guild_id)
        try:
            await self.holds.hold_clip(job, reasons, payload, config)
        except ReviewChannelMissing as exc:
            await self.refuse(job, _("the clip {why}", why=exc.why))
            return
        except DiscordDown as exc:
            raise DeliveryFailed(str(exc)) from exc
        await self.jobs.record(job.id, clip_state=ClipState.HELD.value)
        self.metrics.deliveries.labels("held").inc()
        await self._status(job, texts.held_line(job), post_if_missing=True)

    async def _too_big(self, job: JobRecord, clip: ClipResult, limit: int) -> None:
        reason = _(
            "the clip is {size}, over this server's {limit} upload limit, "
            "and could not be made small enough; an admin can turn on S3 storage "
            "(REELBOT_STORAGE=s3) for links",
            size=size(clip.size),
            limit=size(limit),
        )
        await self._status(job, texts.not_posted_line(job, reason), post_if_missing=True)
        await self.jobs.record(job.id, clip_state=ClipState.UNDELIVERABLE.value, failed=reason)
        await self.jobs.remove_input(job)
        await self.jobs.settle(job, delivered=False)

    async def _post(
        self, job: JobRecord, clip: ClipResult, payload: bytes | None, link: str | None, notes: JobNotes
    ) -> None:
        kwargs: dict[str, Any] = {
            "content": texts.finished_line(job, link),
            "embed": texts.clip_embed(job, clip, notes),
            "view": clip_buttons(job.id, extend=await self._can_extend(job)),
            "nonce": job.id[:25],  # Discord returns the first message for a repeated nonce
            "allowed_mentions": discord.AllowedMentions(users=[discord.Object(int(job.user_id))]),
        }
        if payload is not None:
            kwargs["file"] = discord.File(io.BytesIO(payload), filename=f"reelbot-{job.id}.mp4")
        try:
            sent = await self.channels.send(job.channel_id, **kwargs)
        except Unreachable as exc:
            await self._unpostable(job, exc.detail)
            return
        except DiscordDown as exc:
            raise DeliveryFailed(str(exc)) from exc
        await self.jobs.record_posted(job, str(sent.id))
        await self.jobs.settle(job, delivered=True)
        self.metrics.deliveries.labels("posted").inc()
        await self._status(
            job, _("✅ <@{user}> `{job}` is ready: {link}", user=job.user_id, job=job.id, link=sent.jump_url)
        )

    async def _can_extend(self, job: JobRecord) -> bool:
        """Whether a worker runs the image-to-video model that would continue this clip (the
        Extend button is offered only then; pressing it later checks again)."""
        stats = await self.queue.lane_stats(EXTEND_MODEL[job.spec.model].value)
        return stats.workers > 0

    async def _unpostable(self, job: JobRecord, detail: str) -> None:
        """The bot cannot post in the job's channel: refund the clip and tell the admins."""
        log.error("job %s: cannot post in channel %s: %s", job.id, job.channel_id, detail)
        await self.jobs.record(
            job.id,
            clip_state=ClipState.UNDELIVERABLE.value,
            failed=_("I cannot post in <#{channel}>", channel=job.channel_id),
        )
        await self.jobs.remove_input(job)
        await self.jobs.settle(job, delivered=False)
        config = await self.moderation.config(job.guild_id)
        text = _(
            "I cannot post videos in <#{channel}> ({detail}). Give Reelbot View Channel, Send "
            "Messages, Attach Files and Embed Links there, or restrict /video to other channels with "
            "`/settings channels`.",
            channel=job.channel_id,
            detail=detail,
        )
        await self.notices.tell(
            job.guild_id,
            f"channel:{job.channel_id}",
            text,
            log_channel=config.log_channel,
            fallback_channel=None,
        )

    def _upload_limit(self, channel: Any) -> int:
        """The guild's upload limit, or the admin's lower one (REELBOT_MAX_UPLOAD_BYTES)."""
        guild = getattr(channel, "guild", None)
        limit = int(guild.filesize_limit) if guild is not None else 10 * 2**20
        if self.settings.max_upload_bytes:
            limit = min(limit, self.settings.max_upload_bytes)
        return limit

    async def _clip_for(self, clip: ClipResult, limit: int) -> tuple[bytes | None, str | None]:
        """The clip bytes to attach (re-encoded to fit when needed), or else a link."""
        try:
            data = await self.store.get(clip.clip_ref)
        except BlobNotFound:
            return None, None
        except StorageError as exc:
            raise DeliveryFailed(f"clip storage unavailable: {exc}") from exc
        if len(data) <= limit:
            return data, None
        fitted = await asyncio.to_thread(fit_mp4, data, limit)
        if fitted is not None:
            return fitted, None
        link = clip.clip_url or await self.store.url(clip.clip_ref)
        return None, link

    async def _status(
        self, job: JobRecord, text: str, *, keep_buttons: bool = False, post_if_missing: bool = False
    ) -> None:
        """Edit the job's status message (or post one when it has none and ``post_if_missing``)."""
        notes = await self.jobs.notes(job.id)
        view = status_buttons(job.id) if keep_buttons else None
        try:
            if notes.status_message is None:
                if post_if_missing:
                    await self.channels.send(job.channel_id, content=text, view=view)
            else:
                await self.channels.edit(job.channel_id, notes.status_message, content=text, view=view)
        except Unreachable as exc:
            if job.channel_id not in self._unreachable:
                self._unreachable.add(job.channel_id)
                log.warning("job %s: cannot update its status in %s: %s", job.id, job.channel_id, exc.detail)
        except DiscordDown as exc:
            raise DeliveryFailed(str(exc)) from exc
        self._last_edit[job.id] = time.monotonic()


#: what _judge returns once it has refused a blocked clip
_REFUSED = "\0refused"
