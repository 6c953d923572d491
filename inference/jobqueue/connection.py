"""Connecting to Redis and checking that it keeps the queue safe.

Every client comes from :func:`connect`, which bounds how long any command can wait. A server
that stops answering (frozen, partitioned, swapping) makes a command fail with
``redis.exceptions.TimeoutError`` after :data:`COMMAND_TIMEOUT` seconds instead of waiting
forever; one that is down or restarting fails fast with ``ConnectionError`` and is retried
a few times. Blocking commands (``BLPOP``, ``XREADGROUP ... BLOCK``) wait their own block
time on top of the timeout, so a long block never reads as a dead server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inference.jobqueue.errors import QueueUnavailable, RedisUnsupported
from inference.jobqueue.settings import check_redis_url, redact_urls

log = logging.getLogger(__name__)

#: What Reelbot expects of the server (docs/REDIS.md explains each one).
RECOMMENDED = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory-policy": "noeviction",
}

#: Seconds a command waits for its reply (and a new connection for the server's hello).
#: Well above what Redis takes even while an AOF fsync stalls it (about 2 s at worst), and
#: well inside a worker's lease (15 s), so a frozen server is noticed before leases expire.
COMMAND_TIMEOUT = 5.0


def connect(url: str, *, binary: bool = False, retries: int = 8, timeout: float = COMMAND_TIMEOUT) -> Redis:
    """A client whose every command ends within a bounded time (string replies unless ``binary``).

    A refused or dropped connection (a Redis restart) is retried ``retries`` times with a
    backoff of 0.1 s doubling up to 2 s: about 10 s in all for the default 8. A reply that
    does not come within ``timeout`` seconds (plus the block time of a blocking command) is
    not retried: the server is there but not answering, and asking again would only double the
    wait. The caller's own loop (delivery, the worker's) decides when to try again.

    Retrying is safe for the queue's writes: enqueue is idempotent on the request id and
    the worker's writes are fenced by its lease token.

    Raises:
        ValueError: ``url`` is not a Redis URL; the message shows it with its password hidden.
    """
    check_redis_url(url)
    try:
        # a bounded pool that makes callers wait for a free connection: a burst of 100
        # commands must queue up on 64 sockets, not fail with "Too many connections"
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=30,
            decode_responses=not binary,
            health_check_interval=15,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            socket_keepalive=True,
            # the asyncio Retry: the synchronous one is converted, with a warning, on every client
            retry=Retry(
                ExponentialBackoff(cap=2.0, base=0.05),
                retries=retries,
                supported_errors=(RedisConnectionError,),
                # a wrong password stays wrong: say so at once
                is_retryable=lambda exc: not isinstance(exc, AuthenticationError),
            ),
            retry_on_error=[RedisConnectionError],
        )
    except ValueError as exc:  # redis-py's own URL checks; their messages may quote the URL
        raise ValueError(f"REDIS_URL is not usable: {redact_urls(str(exc))}") from None
    pool.connection_class = _with_block_time(pool.connection_class)
    return Redis.from_pool(pool)  # the client owns the pool and closes it


def block_seconds(args: Sequence[Any]) -> float | None:
    """How long a command may block on the server: 0 for an ordinary command, None for ever.

    Knows every blocking command of Redis 7: the list and sorted-set pops and moves (timeout
    in seconds), XREAD and XREADGROUP with BLOCK (milliseconds) and WAIT/WAITAOF (milliseconds).
    """
    if not args:
        return 0.0
    name = _word(args[0])
    try:
        if name in ("BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BLMOVE", "BRPOPLPUSH"):
            seconds = float(_word(args[-1]))
        elif name in ("BLMPOP", "BZMPOP"):
            seconds = float(_word(args[1]))
        elif name in ("XREAD", "XREADGROUP"):
            words = [_word(a) for a in args]
            streams = words.index("STREAMS") if "STREAMS" in words else len(words)
            if "BLOCK" not in words[:streams]:
                return 0.0
            seconds = float(words[words.index("BLOCK") + 1]) / 1000
        elif name in ("WAIT", "WAITAOF"):
            seconds = float(_word(args[-1])) / 1000
        else:
            return 0.0
    except (IndexError, ValueError):
        return 0.0  # malformed: the server will refuse it at once
    return None if seconds == 0 else max(seconds, 0.0)


def _word(arg: Any) -> str:
    text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    return text.upper()


class _BlockTime(AbstractConnection):
    """A connection that gives a blocking command its block time on top of the socket timeout.

    Commands sent in a pipeline get the plain timeout: Reelbot pipelines no blocking command.
    """

    _block: float | None = 0.0

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        self._block = block_seconds(args)
        await super().send_command(*args, **kwargs)

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109  # redis-py's signature
        **kwargs: Any,
    ) -> Any:
        block, self._block = self._block, 0.0
        if timeout is not None or block == 0.0 or self.socket_timeout is None:
            return await super().read_response(disable_decoding, timeout, **kwargs)
        # The socket timeout is stretched for this read rather than a ``timeout`` passed: on an
        # explicit timeout redis-py returns None and keeps the connection, whose late reply would
        # then answer the next command. On the socket timeout it raises and drops the connection.
        usual = self.socket_timeout
        # None: the caller asked to block for ever (BLOCK 0), so no timeout can apply
        self.socket_timeout = None if block is None else usual + block
        try:
            return await super().read_response(disable_decoding, None, **kwargs)
        finally:
            self.socket_timeout = usual


_BLOCK_TIME_CLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _with_block_time(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """``base`` (plain, TLS or Unix socket, as the URL's scheme chose) with :class:`_BlockTime`."""
    if base not in _BLOCK_TIME_CLASSES:
        _BLOCK_TIME_CLASSES[base] = type(f"BlockTime{base.__name__}", (_BlockTime, base), {})
    return _BLOCK_TIME_CLASSES[base]


async def check_server(redis: Redis) -> list[str]:
    """Check the server's version and durability settings.

    Returns warnings for settings that can lose or evict jobs (log them at start-up).

    Raises:
        RedisUnsupported: the server is older than Redis 7.
        QueueUnavailable: the server cannot be reached, or refused REDIS_URL's credentials.
    """
    try:
        info = await redis.info("server")
    except AuthenticationError as exc:
        raise QueueUnavailable(
            f"Redis refused the user name or password in REDIS_URL ({exc}): check them "
            "(a password holding / # ? @ : or % must be percent-encoded in the URL)"
        ) from exc
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise QueueUnavailable(
            f"cannot reach Redis: {redact_urls(str(exc))}. Is it running, and is REDIS_URL right?"
        ) from exc
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
