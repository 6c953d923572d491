"""Reelbot's job queue on Redis: fair across guilds and members, leased, crash-safe."""

from inference.jobqueue.admission import Allowance, Limit, Limits, Need
from inference.jobqueue.client import Enqueued, JobQueue, LaneStats, Lease, Position, ReapResult, new_job_id
from inference.jobqueue.connection import check_server, connect
from inference.jobqueue.errors import (
    JobNotFound,
    LeaseLost,
    LimitReached,
    QueueError,
    QueueFull,
    QueueUnavailable,
    RedisUnsupported,
)
from inference.jobqueue.events import Delivery, EventConsumer
from inference.jobqueue.settings import QueueSettings

__all__ = [
    "Allowance",
    "Delivery",
    "Enqueued",
    "EventConsumer",
    "JobNotFound",
    "JobQueue",
    "LaneStats",
    "Lease",
    "LeaseLost",
    "Limit",
    "LimitReached",
    "Limits",
    "Need",
    "Position",
    "QueueError",
    "QueueFull",
    "QueueSettings",
    "QueueUnavailable",
    "ReapResult",
    "RedisUnsupported",
    "check_server",
    "connect",
    "new_job_id",
]
