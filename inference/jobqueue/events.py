"""Reading the job event stream through a consumer group.

Workers publish events inside the queue's Lua scripts, atomically with the state change
they announce. Readers (the bot's delivery loop) use a consumer group: an event stays
pending until it is acknowledged, so a consumer that restarts under the same name first
gets back what it had read but not acknowledged, then carries on with new events. Events
left pending by a consumer that never came back are taken over after ``claim_idle``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from inference.contract import ContractError, JobEvent, Keys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry: its id, and the event or why it could not be read."""

    id: str
    event: JobEvent | None
    error: ContractError | None = None


class EventConsumer:
    """A named member of a consumer group on the job event stream."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        group: str,
        consumer: str,
        *,
        batch: int = 100,
        claim_idle_seconds: float = 60.0,
    ) -> None:
        self.redis, self.stream = redis, keys.events()
        self.group, self.consumer = group, consumer
        self.batch, self.claim_idle_ms = batch, int(claim_idle_seconds * 1000)
        self._backlog = True  # first read our own pending entries, from the start

    async def ensure_group(self) -> None:
        """Create the group (from the stream's beginning) unless it exists."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, block_seconds: float = 5.0) -> list[Delivery]:
        """The next batch: own pending entries first, then abandoned ones, then new ones."""
        if self._backlog:
            entries = await self._xread("0", None)
            if entries:
                return entries
            self._backlog = False
            taken = await self._take_abandoned()
            if taken:
                return taken
        return await self._xread(">", int(block_seconds * 1000))

    async def pending(self) -> list[Delivery]:
        """This consumer's entries read but not acknowledged yet (oldest first), then, once per
        consumer, entries another consumer left pending for longer than ``claim_idle``."""
        entries = await self._xread("0", None)
        if self._backlog:
            self._backlog = False
            entries += await self._take_abandoned()
        return entries

    async def new(self, block_seconds: float) -> list[Delivery]:
        """Entries no consumer of the group has read yet, waiting up to ``block_seconds``."""
        return await self._xread(">", max(1, int(block_seconds * 1000)))

    async def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge handled entries; they will not be delivered again."""
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)

    def rescan(self) -> None:
        """Look at pending and abandoned entries again on the next read."""
        self._backlog = True

    async def _xread(self, start: str, block_ms: int | None) -> list[Delivery]:
        reply: list[tuple[str, list[tuple[str, dict[str, str] | None]]]] | None
        reply = await self.redis.xreadgroup(  # type: ignore[assignment]
            self.group, self.consumer, {self.stream: start}, count=self.batch, block=block_ms
        )
        return [_parse(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries]

    async def _take_abandoned(self) -> list[Delivery]:
        reply = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        entries = reply[1]
        if entries:
            log.warning("took over %d events left pending by another consumer", len(entries))
        return [_parse(entry_id, fields) for entry_id, fields in entries if fields]


def _parse(entry_id: str, fields: dict[str, str] | None) -> Delivery:
    if fields is None:  # trimmed from the stream while pending
        return Delivery(entry_id, None, ContractError("event was trimmed before it was read"))
    try:
        return Delivery(entry_id, JobEvent.from_fields(fields))
    except ContractError as exc:
        return Delivery(entry_id, None, exc)
