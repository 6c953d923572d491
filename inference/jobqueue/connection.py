"""Connecting to Redis and checking that it keeps the queue safe."""

from __future__ import annotations

import logging

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from inference.jobqueue.errors import QueueUnavailable, RedisUnsupported

log = logging.getLogger(__name__)

#: What Reelbot expects of the server (docs/REDIS.md explains each one).
RECOMMENDED = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory-policy": "noeviction",
}


def connect(url: str, *, binary: bool = False, retries: int = 8) -> Redis:
    """A client that retries briefly across a Redis restart (string replies unless ``binary``).

    Retrying is safe for the queue's writes: enqueue is idempotent on the request id and
    the worker's writes are fenced by its lease token.
    """
    # a bounded pool that makes callers wait for a free connection: a burst of 100
    # commands must queue up on 64 sockets, not fail with "Too many connections"
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=30,
        decode_responses=not binary,
        health_check_interval=15,
        socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it


async def check_server(redis: Redis) -> list[str]:
    """Check the server's version and durability settings.

    Returns warnings for settings that can lose or evict jobs (log them at start-up).

    Raises:
        RedisUnsupported: the server is older than Redis 7.
        QueueUnavailable: the server cannot be reached.
    """
    try:
        info = await redis.info("server")
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueueUnavailable(f"cannot reach Redis: {exc}. Is it running, and is REDIS_URL right?") from exc
    version = str(info.get("valkey_version") or info.get("redis_version", "0"))
    if int(version.split(".")[0]) < 7:
        raise RedisUnsupported(f"Redis {version} is too old: Reelbot needs Redis 7 or newer (or Valkey 7.2+)")
    warnings: list[str] = []
    for name, wanted in RECOMMENDED.items():
        try:
            reply = await redis.config_get(name)
        except ResponseError:
            # managed services (ElastiCache, MemoryDB) disable CONFIG; they document their own
            warnings.append(
                f"cannot read Redis setting {name} (CONFIG is disabled); make sure it is {wanted}"
            )
            continue
        actual = str(reply.get(name, ""))
        if actual != wanted:
            warnings.append(_advice(name, actual, wanted))
    return warnings


def _advice(name: str, actual: str, wanted: str) -> str:
    why = {
        "appendonly": "a Redis restart loses every queued job",
        "appendfsync": "a crash can lose more than the last second of jobs"
        if actual == "no"
        else "every write waits for the disk",
        "maxmemory-policy": "Redis may evict queued jobs when memory runs out",
    }[name]
    return f"Redis {name} is {actual!r}, not {wanted!r}: {why}. See docs/REDIS.md."
