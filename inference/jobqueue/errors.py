"""Errors raised by the job queue.

QueueError
├── LimitReached         a member limit refused the job (admission.Limit says which)
│   └── QueueFull        the global or the guild's queue cap is reached (a user-facing message)
├── JobNotFound          no such job (or its record expired)
├── LeaseLost            the caller no longer holds the job's lease (fencing)
├── RedisUnsupported     the server is older than Redis 7
└── QueueUnavailable     Redis cannot be reached
"""

from __future__ import annotations


class QueueError(Exception):
    """Base of the queue's errors."""


class LimitReached(QueueError):
    """A limit refused the request; nothing was enqueued and nothing queued was touched.

    Attributes:
        limit: which limit (an :class:`~inference.jobqueue.admission.Limit` value).
        used, cap: the limit's numbers (jobs, clips or refusals).
        retry_at: Unix time the request would be allowed again, when known.
        detail: the moderator's reason for a block.
        cooldown_until: set when this refusal started or lengthened a cooldown.
    """

    def __init__(
        self,
        limit: str,
        used: int,
        cap: int,
        retry_at: float | None = None,
        detail: str = "",
        cooldown_until: float | None = None,
    ) -> None:
        self.limit, self.used, self.cap = limit, used, cap
        self.retry_at, self.detail, self.cooldown_until = retry_at, detail, cooldown_until
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"{self.limit} limit reached ({self.used} of {self.cap}); nothing was queued"


class QueueFull(LimitReached):
    """The queue is at a cap; nothing was enqueued. ``str()`` is safe to show a member."""

    def __init__(self, scope: str, depth: int, cap: int) -> None:
        self.scope, self.depth = scope, depth
        super().__init__(f"{scope}_queue", depth, cap)

    def describe(self) -> str:
        where = "this server's queue" if self.scope == "guild" else "the queue"
        return (
            f"Queue full: {where} already holds {self.depth} waiting videos (the limit is {self.cap}). "
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
