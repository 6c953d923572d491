"""Input images: which request owns one, and when it goes.

An input image is stored once a request with an image passes the filter, under its own job id
(Re-roll and Remix store a copy for their new job, so no two jobs share one). From then on:

- a **queued** request's image belongs to its job: it is deleted when the job ends without a
  clip (failed, cancelled) or when its clip is removed (refused, rejected, deleted, or never
  deliverable); a posted clip keeps its image as long as the clip is kept, so its Re-roll and
  Remix can still use it; storage expires both after ``REELBOT_CLIP_TTL_SECONDS``;
- a **waiting** request's image (a prompt draft, a request held for a moderator, a refusal that
  can still be appealed) is due for deletion when the wait ends, unless the request is queued by
  then: :meth:`InputJanitor.due` notes the time in ``Keys.input_expiry``, queueing the request
  takes it off (``JobBook.record_queued``), and :meth:`InputJanitor.sweep`, run by the bot's
  reaper loop, deletes what is overdue.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis

from inference.contract import Keys
from inference.storage import BlobStore, StorageError

log = logging.getLogger(__name__)

#: how long a refused request's image is kept for its member to appeal
APPEAL_WINDOW_SECONDS = 24 * 3600
#: inputs deleted per sweep at most (the rest wait for the next one)
SWEEP_BATCH = 200


class InputJanitor:
    """Deletes input images when their request's wait ends."""

    def __init__(self, redis: Redis, keys: Keys, store: BlobStore) -> None:
        self.redis, self.key, self.store = redis, keys.input_expiry(), store

    async def due(self, image_ref: str | None, seconds: float) -> None:
        """Delete ``image_ref`` in ``seconds`` unless its request is queued by then."""
        if image_ref:
            await self.redis.zadd(self.key, {image_ref: time.time() + seconds})

    async def delete(self, image_ref: str | None) -> None:
        """Delete an input now (best effort: storage expires it anyway)."""
        if not image_ref:
            return
        try:
            await self.store.delete(image_ref)
        except StorageError as exc:
            log.warning("could not delete the input image %s: %s", image_ref, exc)
            return
        await self.redis.zrem(self.key, image_ref)

    async def sweep(self) -> int:
        """Delete the inputs whose wait has ended; returns how many."""
        overdue: list[str] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            self.key, "-inf", time.time(), start=0, num=SWEEP_BATCH
        )
        for ref in overdue:
            await self.delete(ref)
        if overdue:
            log.info("deleted %d input image(s) whose request was never queued", len(overdue))
        return len(overdue)
