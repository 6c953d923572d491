"""Turning job events into Discord messages: status edits, and the clip, posted exactly once.

Events are read through the ``bot`` consumer group, so a restarted bot resumes where it
stopped and every event is handled by one bot. An event is acknowledged only once
handled; a Discord outage leaves it pending and it is retried. The clip is posted as an
ordinary channel message with the bot token, not through the interaction (whose token
dies after 15 minutes), so a job that takes an hour still arrives. Exactly once: the
message carries a nonce that Discord enforces (a retry returns the first message), and
the message id is recorded before the event is acknowledged. A posted clip is charged to
the guild's daily quota; one that cannot be posted is refunded.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import discord

from bot import messages
from bot.review_desk import NO_REVIEW_CHANNEL
from bot.screening import Action
from bot.views import clip_buttons, status_buttons
from inference.contract import ClipResult, EventType, JobEvent, JobRecord
from inference.jobqueue import EventConsumer, JobNotFound
from inference.storage import BlobNotFound, StorageError
from inference.video import fit_mp4

if TYPE_CHECKING:
    from bot.app import ReelBot

log = logging.getLogger(__name__)

GROUP = "bot"
#: leave room for the multipart envelope under the upload limit
_UPLOAD_MARGIN = 64 * 1024
#: what _judge returns once it has refused a blocked clip
_REFUSED = "\0refused"


class DeliveryFailed(Exception):
    """The event cannot be handled now; leave it pending and try again."""


class Deliverer:
    """Reads job events and keeps each job's messages in the channel up to date."""

    def __init__(self, bot: ReelBot, *, consumer: str | None = None) -> None:
        self.bot = bot
        self.service = bot.service
        self.events = EventConsumer(
            self.service.redis, self.service.keys, GROUP, consumer or f"{socket.gethostname()}-bot"
        )
        self._last_edit: dict[str, float] = {}
        self._reported: set[tuple[str, str]] = set()

    async def run(self) -> None:
        """Handle events until cancelled."""
        await self.events.ensure_group()
        while True:
            try:
                batch = await self.events.read(block_seconds=2.0)
            except Exception:
                log.exception("reading job events failed; retrying in 2 s")
                await asyncio.sleep(2)
                continue
            done = []
            for delivery in batch:
                if delivery.event is None:
                    log.warning("skipping unreadable event %s: %s", delivery.id, delivery.error)
                    done.append(delivery.id)
                    continue
                try:
                    await self.handle(delivery.event)
                except DeliveryFailed as exc:
                    log.warning("job %s: %s; will retry", delivery.event.job_id, exc)
                    self.events.rescan()
                    break  # keep the order: later events of the job wait for this one
                done.append(delivery.id)
            await self.events.ack(done)
            if len(done) < len(batch):
                await asyncio.sleep(1.0)

    async def handle(self, event: JobEvent) -> None:
        """Act on one event; raises DeliveryFailed when it should be retried."""
        since = time.monotonic() - self._last_edit.get(event.job_id, 0.0)
        if event.type is EventType.PROGRESS and since < self.bot.settings.status_edit_seconds:
            return  # Discord rate-limits edits; the next one carries the news
        try:
            job = await self.service.queue.get(event.job_id)
        except JobNotFound:
            return
        if event.type is EventType.PROGRESS:
            step, total = int(event.data.get("step", 0)), int(event.data.get("total", 1))
            await self._edit_status(job, messages.rendering_line(job, step, total), keep_buttons=True)
        elif event.type is EventType.RUNNING:
            await self._edit_status(job, messages.started_line(job), keep_buttons=True)
        elif event.type is EventType.REQUEUED:
            await self._edit_status(job, messages.requeued_line(job), keep_buttons=True)
        elif event.type is EventType.SUCCEEDED:
            await self.deliver(job)
        elif event.type is EventType.FAILED:
            await self._edit_status(
                job, messages.failed_line(job, job.error or "unknown error"), post_if_missing=True
            )
        elif event.type is EventType.CANCELLED:
            await self._edit_status(job, messages.cancelled_line(job))
        if event.type.final:
            self._last_edit.pop(job.id, None)

    async def deliver(self, job: JobRecord, *, approved: bool = False) -> None:
        """Post the finished clip once (unless the filter blocks it or a moderator must see it
        first), then point the status message at it."""
        posts = await self.service.posts(job.id)
        if "clip" in posts:
            await self.service.settle(job, delivered=True)  # in case a restart came in between
            return  # delivered before a restart
        if "failed" in posts:
            return  # refused before a restart
        channel = await self._channel(job)
        if channel is None:
            await self.service.settle(job, delivered=False)
            return
        hold = None if approved else await self._judge(job, channel)
        if hold is _REFUSED:
            return  # decided before fetching the clip: a blocked one is never even downloaded
        clip = job.clip()
        if clip is None:
            raise DeliveryFailed("the job succeeded without a result")
        limit = self._upload_limit(channel)
        payload, link = await self._clip_for(clip, limit - min(_UPLOAD_MARGIN, limit // 8))
        if hold is not None:
            await self._hold(job, hold, payload)
            return
        if payload is None and link is None:
            size = messages.size(clip.size)
            reason = (
                f"the clip is {size}, over this server's {messages.size(limit)} upload limit, "
                "and could not be made small enough; an admin can turn on S3 storage "
                "(REELBOT_STORAGE=s3) for links"
            )
            await self._edit_status(job, messages.failed_line(job, reason), post_if_missing=True)
            await self.service.record_post(job.id, "failed", reason)
            await self.service.settle(job, delivered=False)
            return
        content = messages.finished_line(job, link)
        kwargs: dict[str, Any] = {
            "content": content,
            "embed": messages.clip_embed(job, clip),
            "view": clip_buttons(job.id),
            "nonce": job.id[:25],  # Discord returns the first message for a repeated nonce
            "allowed_mentions": discord.AllowedMentions(users=[discord.Object(int(job.user_id))]),
        }
        if payload is not None:
            kwargs["file"] = discord.File(io.BytesIO(payload), filename=f"reelbot-{job.id}.mp4")
        sent = await self._send(job, channel, **kwargs)
        if sent is None:  # Discord refused it for good (a missing permission): not the member's clip
            await self.service.settle(job, delivered=False)
            return
        await self.service.record_post(job.id, "clip", str(sent.id))
        await self.service.settle(job, delivered=True)
        self.bot.metrics.deliveries.labels("posted").inc()
        await self._edit_status(job, f"✅ <@{job.user_id}> `{job.id}` is ready: {sent.jump_url}")

    async def _judge(self, job: JobRecord, channel: Any) -> str | None:
        """The content filter on the clip: None to post it, why a moderator must see it first,
        or ``_REFUSED`` once a blocked clip has been refused."""
        moderation = self.service.moderation
        config = await moderation.config(job.guild_id)
        verdict = moderation.check_clip(job.clip(), config, bool(getattr(channel, "nsfw", False)))
        if verdict.action is Action.BLOCK:
            await moderation.strike(job.guild_id, job.user_id)
            await self.refuse(job, f"{verdict.reason}, so it was not posted")
            return _REFUSED
        standing = await moderation.standing(job.guild_id, job.user_id)
        return moderation.hold_reason(config.before_posting, verdict, standing, "clip")

    async def _hold(self, job: JobRecord, reasons: str, clip: bytes | None) -> None:
        """Put the clip in front of the moderators, or refuse it when the guild has nowhere to."""
        if await self.bot.reviews.hold_clip(job, reasons, clip):
            self.bot.metrics.deliveries.labels("held").inc()
            await self._edit_status(job, messages.held_line(job), post_if_missing=True)
        else:
            await self.refuse(job, f"the clip {NO_REVIEW_CHANNEL}")

    async def refuse(self, job: JobRecord, reason: str) -> None:
        """The clip will not be posted: say why, and refund it."""
        self.bot.metrics.deliveries.labels("refused").inc()
        await self._edit_status(job, messages.failed_line(job, reason), post_if_missing=True)
        await self.service.record_post(job.id, "failed", reason)
        await self.service.settle(job, delivered=False)

    def _upload_limit(self, channel: Any) -> int:
        """The guild's upload limit, or the admin's lower one (REELBOT_MAX_UPLOAD_BYTES)."""
        guild = getattr(channel, "guild", None)
        limit = int(guild.filesize_limit) if guild is not None else 10 * 2**20
        if self.bot.settings.max_upload_bytes:
            limit = min(limit, self.bot.settings.max_upload_bytes)
        return limit

    async def _clip_for(self, clip: ClipResult, limit: int) -> tuple[bytes | None, str | None]:
        """The clip bytes to attach (re-encoded to fit when needed), or else a link."""
        try:
            data = await self.service.store.get(clip.clip_ref)
        except BlobNotFound:
            return None, None
        except StorageError as exc:
            raise DeliveryFailed(f"clip storage unavailable: {exc}") from exc
        if len(data) <= limit:
            return data, None
        fitted = await asyncio.to_thread(fit_mp4, data, limit)
        if fitted is not None:
            return fitted, None
        link = clip.clip_url or await self.service.store.url(clip.clip_ref)
        return None, link

    async def _edit_status(
        self, job: JobRecord, text: str, *, keep_buttons: bool = False, post_if_missing: bool = False
    ) -> None:
        posts = await self.service.posts(job.id)
        channel = await self._channel(job)
        if channel is None:
            return
        view = status_buttons(job.id) if keep_buttons else None
        if "status" not in posts:
            if post_if_missing:
                await self._send(job, channel, content=text, view=view)
            return
        message = channel.get_partial_message(int(posts["status"]))
        try:
            await message.edit(content=text, view=view)
        except discord.NotFound:
            return  # someone deleted the status message
        except discord.Forbidden as exc:
            self.bot.metrics.discord_errors.labels("403").inc()
            self._report_forbidden(job, exc)
        except discord.DiscordServerError as exc:
            self.bot.metrics.discord_errors.labels(str(exc.status)).inc()
            raise DeliveryFailed(f"Discord is unavailable ({exc.status})") from exc
        self._last_edit[job.id] = time.monotonic()

    async def _send(
        self, job: JobRecord, channel: discord.abc.Messageable, **kwargs: Any
    ) -> discord.Message | None:
        try:
            return await channel.send(**kwargs)
        except discord.Forbidden as exc:
            self.bot.metrics.discord_errors.labels("403").inc()
            self._report_forbidden(job, exc)
            return None
        except (discord.DiscordServerError, discord.RateLimited) as exc:
            self.bot.metrics.discord_errors.labels(str(getattr(exc, "status", 429))).inc()
            raise DeliveryFailed(f"Discord is unavailable ({exc})") from exc
        except discord.HTTPException as exc:
            self.bot.metrics.discord_errors.labels(str(exc.status)).inc()
            if exc.status >= 500:
                raise DeliveryFailed(f"Discord is unavailable ({exc.status})") from exc
            log.error("job %s: Discord refused the message: %s", job.id, exc)
            return None

    async def _channel(self, job: JobRecord) -> Any:
        channel = self.bot.get_channel(int(job.channel_id))
        if channel is not None:
            return channel
        try:
            return await self.bot.fetch_channel(int(job.channel_id))
        except (discord.NotFound, discord.Forbidden):
            log.warning("job %s: channel %s is gone or hidden; dropping its messages", job.id, job.channel_id)
            return None
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"cannot look up channel {job.channel_id}: {exc}") from exc

    def _report_forbidden(self, job: JobRecord, exc: discord.Forbidden) -> None:
        """Log a missing permission once per channel, clearly, instead of on every event."""
        key = (job.channel_id, exc.text)
        if key in self._reported:
            return
        self._reported.add(key)
        log.error(
            "missing permission in channel %s (guild %s): %s. Give Reelbot View Channel, Send Messages, "
            "Attach Files and Embed Links there; until then its videos cannot be posted.",
            job.channel_id,
            job.guild_id,
            exc.text or exc,
        )
