"""Reading job events and handing each to the deliverer, so that no single event or outage stops it.

Events are read through the ``bot`` consumer group: a restarted bot resumes where it stopped,
and an event stays pending until it is handled. Each event is handled on its own:

- when Discord is down, rate-limits the bot, or Redis or storage goes away, the event stays
  pending and is tried again with a growing back-off (1 s up to ``MAX_BACKOFF``), however long
  the outage lasts; later events of the same job wait for it, so a job's messages keep their
  order, while other jobs' events go on;
- an event whose handling fails in any other way (a bug, a record the bot cannot read) is
  tried ``POISON_TRIES`` times, then set aside: acknowledged, copied to the dead-event stream
  with the error's reference, logged with its job id, and its member told once.

Nothing here raises except on cancellation: the loop is also supervised
(:mod:`bot.supervisor`), restarted if it ever stops, and reported on ``/healthz``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

import discord
from redis.exceptions import RedisError

from bot import i18n
from bot.channels import ChannelError, Channels, DiscordDown
from bot.delivery.posting import Deliverer, DeliveryFailed
from bot.i18n import _
from bot.jobs import JobBook
from bot.languages import Languages
from bot.observability import BotMetrics
from inference.contract import JobEvent
from inference.jobqueue import EventConsumer, JobQueue
from inference.jobqueue.events import Delivery

log = logging.getLogger(__name__)

GROUP = "bot"
#: tries of an event that fails unexpectedly before it is set aside
POISON_TRIES = 5
#: the longest wait between tries of an event that waits for an outage to pass
MAX_BACKOFF = 30.0
#: dead events kept for operators
DEAD_KEPT = 1000

#: failures that pass on their own: the event waits and is tried again, however often
TRANSIENT: tuple[type[BaseException], ...] = (DeliveryFailed, DiscordDown, RedisError, OSError, TimeoutError)


@dataclass(slots=True)
class _Retry:
    tries: int
    failures: int
    at: float


class DeliveryLoop:
    """The bot's consumer of job events."""

    def __init__(
        self,
        queue: JobQueue,
        deliverer: Deliverer,
        jobs: JobBook,
        channels: Channels,
        metrics: BotMetrics,
        *,
        consumer: str | None = None,
        backoff: float = 1.0,
        languages: Languages | None = None,
    ) -> None:
        self.queue, self.deliverer, self.jobs, self.channels, self.metrics = (
            queue,
            deliverer,
            jobs,
            channels,
            metrics,
        )
        self.events = EventConsumer(queue.redis, queue.keys, GROUP, consumer or f"{socket.gethostname()}-bot")
        self.backoff = backoff
        #: each job's messages are in its server's language (English without)
        self.languages = languages
        self._retry: dict[str, _Retry] = {}

    async def run(self) -> None:
        """Handle events until cancelled."""
        await self._until_ok(self.events.ensure_group)
        rescan = True
        while True:
            try:
                if rescan or self._due():
                    batch, rescan = await self.events.pending(), False
                else:
                    batch = await self.events.new(block_seconds=self._wait())
            except (RedisError, OSError) as exc:
                log.warning("reading job events failed (%s); trying again", exc)
                await asyncio.sleep(self.backoff)
                rescan = True
                continue
            await self.handle_batch(batch)

    async def handle_batch(self, batch: list[Delivery]) -> None:
        """Handle each event on its own, in order per job."""
        now = time.monotonic()
        waiting_jobs: dict[str, float] = {}
        for delivery in batch:
            retry = self._retry.get(delivery.id)
            job_id = delivery.event.job_id if delivery.event else None
            if job_id is not None and job_id in waiting_jobs:  # an earlier event of its job waits
                self._retry[delivery.id] = _Retry(retry.tries if retry else 0, 0, waiting_jobs[job_id])
                continue
            if retry is not None and retry.at > now:
                if job_id is not None:
                    waiting_jobs[job_id] = retry.at
                continue
            if not await self._one(delivery) and job_id is not None:
                waiting_jobs[job_id] = self._retry[delivery.id].at

    async def _one(self, delivery: Delivery) -> bool:
        """Handle one event; True when it is done with (handled, unreadable, or set aside)."""
        if delivery.event is None:
            log.warning("setting aside unreadable event %s: %s", delivery.id, delivery.error)
            return await self._done(delivery)
        event = delivery.event
        language = i18n.DEFAULT
        if self.languages is not None:
            language = await self.languages.server(event.guild_id, wait=None)
        with i18n.in_server(language):  # a job's messages are posted for its whole channel
            try:
                await self.deliverer.handle(event)
            except TRANSIENT as exc:
                self._failed(delivery, exc, counts=False)
                return False
            except Exception as exc:
                if self._failed(delivery, exc, counts=True) < POISON_TRIES:
                    return False
                await self._set_aside(event, delivery, exc)
                return await self._done(delivery)
        return await self._done(delivery)

    async def _done(self, delivery: Delivery) -> bool:
        try:
            await self.events.ack([delivery.id])
        except (RedisError, OSError) as exc:
            self._failed(delivery, exc, counts=False)  # handled, but handled again later: safe
            return False
        self._retry.pop(delivery.id, None)
        return True

    def _failed(self, delivery: Delivery, exc: BaseException, *, counts: bool) -> int:
        """Schedule the next try; returns how many unexpected failures the event has had."""
        retry = self._retry.get(delivery.id) or _Retry(0, 0, 0.0)
        retry.tries += 1
        retry.failures += int(counts)
        retry.at = time.monotonic() + min(self.backoff * 2 ** min(retry.tries - 1, 10), MAX_BACKOFF)
        self._retry[delivery.id] = retry
        job = delivery.event.job_id if delivery.event else "?"
        if counts:
            log.error(
                "job %s: handling event %s failed (try %d)", job, delivery.id, retry.tries, exc_info=exc
            )
        else:
            log.warning("job %s: event %s waits (%s); try %d", job, delivery.id, exc, retry.tries)
        return retry.failures

    async def _set_aside(self, event: JobEvent, delivery: Delivery, exc: Exception) -> None:
        """Keep a poison event for operators and tell its member, once."""
        reference = secrets.token_hex(4)
        log.error(
            "job %s: event %s set aside after %d tries (ref %s)",
            event.job_id,
            delivery.id,
            POISON_TRIES,
            reference,
        )
        self.metrics.deliveries.labels("set_aside").inc()
        fields: dict[Any, Any] = {
            "entry": delivery.id,
            "job": event.job_id,
            "type": event.type.value,
            "error": repr(exc)[:500],
            "ref": reference,
        }
        try:
            await self.queue.redis.xadd(
                self.queue.keys.dead_events(), fields, maxlen=DEAD_KEPT, approximate=True
            )
            if await self.jobs.record(event.job_id, only_if_new="set_aside", set_aside=reference):
                text = _(
                    "❌ <@{user}> something went wrong with your video `{job}` on our side "
                    "(reference `{reference}`); the team can look it up.",
                    user=event.user_id,
                    job=event.job_id,
                    reference=reference,
                )
                mention = discord.AllowedMentions(users=[discord.Object(int(event.user_id))])
                await self.channels.send(event.channel_id, content=text, allowed_mentions=mention)
        except (RedisError, OSError, ChannelError) as told:
            log.warning("job %s: could not record or tell about the set-aside event: %s", event.job_id, told)

    def _due(self) -> bool:
        now = time.monotonic()
        return any(r.at <= now for r in self._retry.values())

    def _wait(self) -> float:
        """How long to wait for new events before a waiting one is due again."""
        if not self._retry:
            return 2.0
        return max(0.05, min(2.0, min(r.at for r in self._retry.values()) - time.monotonic()))

    async def _until_ok(self, action: object) -> None:
        delay = self.backoff
        while True:
            try:
                await action()  # type: ignore[operator]
                return
            except (RedisError, OSError) as exc:
                log.warning("the delivery loop waits for Redis (%s)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
