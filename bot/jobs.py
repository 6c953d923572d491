"""The bot's own record of each job: its messages, what the filter flagged, and what became of its clip.

The queue keeps the job record (``inference.contract``); the bot keeps its notes beside it, in
one hash per job (``Keys.posts``) that expires with the job:

- ``status`` and ``clip``: the status message and the posted clip (message ids);
- ``gif``: the GIF of the clip posted with the GIF button (a message id);
- ``flags``: what the content filter flagged when the request was queued (JSON list), so a
  re-roll of a flagged request goes back to a moderator;
- ``clip_state``: ``posted``, ``held`` (a moderator looks first), ``refused`` (by the filter),
  ``rejected`` (by a moderator), ``deleted``, or ``undeliverable`` (over the upload limit),
  with ``failed`` (why it was not posted) and ``deleted_by``. A clip is only ever served where
  its state allows it, and refused, rejected and deleted clips are removed from storage when
  that happens.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from inference.contract import ContractError, JobRecord, JobStatus
from inference.jobqueue import JobNotFound, JobQueue, Position
from inference.storage import BlobStore, StorageError

log = logging.getLogger(__name__)

#: how many recent jobs per member /queue looks at
RECENT_JOBS = 20
#: how many posted clips per member and guild /history keeps (newest)
HISTORY_MOST = 200


class ClipState(StrEnum):
    """What became of a finished clip."""

    POSTED = "posted"
    HELD = "held"
    REFUSED = "refused"
    REJECTED = "rejected"
    DELETED = "deleted"
    #: over the upload limit with no way to link it (kept: not a moderation decision)
    UNDELIVERABLE = "undeliverable"

    @property
    def removed(self) -> bool:
        """The clip is gone from storage, for good."""
        return self in (ClipState.REFUSED, ClipState.REJECTED, ClipState.DELETED)


@dataclass(frozen=True, slots=True)
class JobNotes:
    """The bot's notes on one job."""

    status_message: str | None = None
    clip_message: str | None = None
    clip_state: ClipState | None = None
    #: why the clip was not posted (refused, rejected)
    failed: str | None = None
    deleted_by: str | None = None
    flags: tuple[str, ...] = ()
    #: the posted GIF of the clip (a message id, or "making" while it is made)
    gif_message: str | None = None
    #: which take of its request the job is ("2/4"), when the member asked for several
    take: str | None = None
    #: the job whose clip this one continues (Extend)
    extends: str | None = None
    #: the language the member wrote the prompt in, when it was translated into English for the model
    translated: str | None = None

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> JobNotes:
        state = raw.get("clip_state")
        if state is None and "clip" in raw:
            state = ClipState.POSTED  # recorded before clip states existed
        elif state is None and "failed" in raw:
            state = ClipState.REFUSED
        return cls(
            status_message=raw.get("status"),
            clip_message=raw.get("clip"),
            clip_state=ClipState(state) if state else None,
            failed=raw.get("failed"),
            deleted_by=raw.get("deleted_by"),
            flags=tuple(json.loads(raw.get("flags") or "[]")),
            gif_message=raw.get("gif"),
            take=raw.get("take"),
            extends=raw.get("extends"),
            translated=raw.get("translated"),
        )


class JobBook:
    """Reads and writes the bot's notes on jobs, and members' recent jobs."""

    def __init__(self, queue: JobQueue, store: BlobStore) -> None:
        self.queue, self.store = queue, store
        self.redis: Redis = queue.redis
        self.keys = queue.keys
        self.retention = queue.settings.retention_seconds

    async def notes(self, job_id: str) -> JobNotes:
        raw: dict[str, str] = await self.redis.hgetall(self.keys.posts(job_id))  # type: ignore[assignment]
        return JobNotes.from_hash(raw)

    async def record_queued(
        self,
        job: JobRecord,
        flags: tuple[str, ...],
        *,
        take: str | None = None,
        extends: str | None = None,
        translated: str | None = None,
    ) -> None:
        """Remember a new job for its member's /queue, what the filter flagged in it, which take
        it is and which clip it extends; its input image now belongs to the job (no longer due
        for deletion, see bot/inputs.py)."""
        member = self.keys.member_jobs(job.guild_id, job.user_id)
        notes = self.keys.posts(job.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if job.spec.image_ref:
                pipe.zrem(self.keys.input_expiry(), job.spec.image_ref)
            pipe.zadd(member, {job.id: job.created_at or time.time()})
            pipe.zremrangebyrank(member, 0, -RECENT_JOBS - 1)
            pipe.expire(member, self.retention)
            fields = {
                "take": take,
                "extends": extends,
                "translated": translated,
                "flags": json.dumps(list(flags)) if flags else None,
            }
            written = {k: v for k, v in fields.items() if v is not None}
            if written:
                pipe.hset(notes, mapping=written)  # type: ignore[arg-type]
                pipe.expire(notes, self.retention)
            await pipe.execute()

    async def record(self, job_id: str, *, only_if_new: str | None = None, **fields: str) -> bool:
        """Write notes; with ``only_if_new``, only when that field is not set yet (True if written)."""
        key = self.keys.posts(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if only_if_new is not None:
                pipe.hsetnx(key, only_if_new, fields.pop(only_if_new))
            if fields:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.expire(key, self.retention)
            replies = await pipe.execute()
        return bool(replies[0]) if only_if_new is not None else True

    async def record_posted(self, job: JobRecord, message_id: str) -> None:
        """The clip is posted as ``message_id``: note it, and list it in the member's history."""
        now = time.time()
        history = self.keys.history(job.guild_id, job.user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.posts(job.id), mapping={"clip": message_id, "clip_state": ClipState.POSTED.value}
            )
            pipe.expire(self.keys.posts(job.id), self.retention)
            pipe.zadd(history, {job.id: now})
            pipe.zremrangebyscore(history, "-inf", now - self.retention)
            pipe.zremrangebyrank(history, 0, -HISTORY_MOST - 1)
            pipe.expire(history, self.retention)
            await pipe.execute()

    async def history(self, guild_id: str, user_id: str) -> list[tuple[JobRecord, JobNotes, float]]:
        """A member's posted clips in a guild, newest first, with when each was posted: only
        clips still posted (a deleted, refused or rejected one is left out) whose record is kept."""
        key = self.keys.history(guild_id, user_id)
        cutoff = time.time() - self.retention
        entries: list[tuple[str, float]] = await self.redis.zrevrangebyscore(  # type: ignore[assignment]
            key, "+inf", cutoff, withscores=True
        )
        if not entries:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, _ in entries:
                pipe.hgetall(self.keys.posts(job_id))
            raw_notes: list[dict[str, str]] = await pipe.execute()
        found = []
        for (job_id, posted_at), raw in zip(entries, raw_notes, strict=True):
            notes = JobNotes.from_hash(raw)
            if notes.clip_state is not ClipState.POSTED or notes.clip_message is None:
                continue
            try:
                job = await self.queue.get(job_id)
            except (JobNotFound, ContractError):
                continue
            if job.guild_id == guild_id and job.user_id == user_id:
                found.append((job, notes, posted_at))
        return found

    async def forget(self, job_id: str, *fields: str) -> None:
        """Drop notes (a claim that could not be carried out)."""
        await self.redis.hdel(self.keys.posts(job_id), *fields)

    async def claim_deletion(self, job_id: str, by: str) -> bool:
        """Whether ``by`` is the one deleting the clip (False: someone else already did)."""
        return await self.record(job_id, only_if_new="deleted_by", deleted_by=by)

    async def remove_clip(self, job: JobRecord, state: ClipState, reason: str = "") -> None:
        """Record that the clip will never be shown (``state``) and delete it, and its input
        image, from storage."""
        fields = {"clip_state": state.value}
        if reason:
            fields["failed"] = reason
        await self.record(job.id, **fields)
        await self._delete(job, _clip_ref(job), f"the {state} clip")
        await self.remove_input(job)

    async def remove_input(self, job: JobRecord) -> None:
        """Delete the job's input image (it ended without a clip, or its clip is gone)."""
        await self._delete(job, job.spec.image_ref, "its input image")

    async def _delete(self, job: JobRecord, ref: str | None, what: str) -> None:
        if not ref:
            return
        try:
            await self.store.delete(ref)
        except StorageError as exc:
            # the record already says it is gone, so nothing serves it; storage expires it
            log.warning("job %s: could not delete %s from storage: %s", job.id, what, exc)

    async def member_jobs(self, guild_id: str, user_id: str) -> list[tuple[JobRecord, Position | None]]:
        """A member's queued and running jobs in a guild, oldest first, with their positions."""
        ids: list[str] = await self.redis.zrange(self.keys.member_jobs(guild_id, user_id), 0, -1)  # type: ignore[assignment]
        active = []
        for job_id in ids:
            try:
                job = await self.queue.get(job_id)
            except (JobNotFound, ContractError):
                continue
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                position = await self.queue.position(job.id) if job.status is JobStatus.QUEUED else None
                active.append((job, position))
        return active

    async def settle(self, job: JobRecord, delivered: bool) -> None:
        """Charge the clip to the guild's daily quota once it is posted, or refund it (once)."""
        try:
            await self.queue.settle(job.id, delivered)
        except (JobNotFound, ContractError) as exc:
            log.warning("job %s: could not settle its quota: %s", job.id, exc)


def _clip_ref(job: JobRecord) -> str | None:
    try:
        clip = job.clip()
    except ContractError:
        return None
    return clip.clip_ref if clip is not None else None
