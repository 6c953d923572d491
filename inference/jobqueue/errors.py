"""Errors raised by the job queue.

QueueError
├── QueueFull            the global or the guild's cap is reached (a user-facing message)
├── JobNotFound          no such job (or its record expired)
├── LeaseLost            the caller no longer holds the job's lease (fencing)
├── RedisUnsupported     the server is older than Redis 7
└── QueueUnavailable     Redis cannot be reached
"""

from __future__ import annotations


class QueueError(Exception):
    """Base of the queue's errors."""


class QueueFull(QueueError):
    """The queue is at a cap; nothing was enqueued. ``str()`` is safe to show a member."""

    def __init__(self, scope: str, depth: int, cap: int) -> None:
        self.scope, self.depth, self.cap = scope, depth, cap
        where = "this server's queue" if scope == "guild" else "the queue"
        super().__init__(
            f"Queue full: {where} already holds {depth} waiting videos (the limit is {cap}). "
            "Nothing was added; try again when some have finished."
        )


class JobNotFound(QueueError):
    """No job with this id (it never existed, or its record expired)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id!r}: check the id, or it finished too long ago")


class LeaseLost(QueueError):
    """The job's lease belongs to someone else now; the caller must drop the job."""

    def __init__(self, job_id: str, status: str) -> None:
        self.job_id, self.status = job_id, status
        super().__init__(f"job {job_id} is no longer leased to this worker (it is {status or 'gone'})")


class RedisUnsupported(QueueError):
    """The Redis server cannot run Reelbot's queue."""


class QueueUnavailable(QueueError):
    """Redis cannot be reached."""
