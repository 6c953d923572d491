"""Waiting for a job's final event on the stream, as the bot does (blocking reads, no polling)."""

from __future__ import annotations

from inference.contract import EventType, JobEvent
from inference.jobqueue import JobQueue


async def stream_end(queue: JobQueue) -> str:
    """The id of the newest event: read from here to see only what happens next."""
    newest = await queue.redis.xrevrange(queue.keys.events(), count=1)
    return str(newest[0][0]) if newest else "0-0"


async def wait_succeeded(queue: JobQueue, job_id: str, after: str) -> JobEvent:
    """Block until ``job_id`` ends; returns its ``succeeded`` event.

    Raises:
        RuntimeError: the job ended otherwise (failed or cancelled).
    """
    stream, last = queue.keys.events(), after
    while True:
        reply = await queue.redis.xread({stream: last}, block=30_000, count=100)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                event = JobEvent.from_fields(fields)
                if event.job_id != job_id or not event.type.final:
                    continue
                if event.type is not EventType.SUCCEEDED:
                    raise RuntimeError(f"bench job {job_id} {event.type}: {event.data}")
                return event
