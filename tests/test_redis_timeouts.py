"""A Redis that stops answering: every call of the bot and the worker fails within seconds with a
redis-py error (which their loops and the bot's error funnel handle) instead of waiting for ever,
and the same client works again once the server answers.

The server is a private redis-server frozen with SIGSTOP: its port still accepts connections (the
kernel completes the handshake), but nothing is ever answered, as with a hung or swapping server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inference.contract import Keys
from inference.jobqueue import EventConsumer, JobQueue, QueueSettings, connect
from inference.jobqueue.connection import COMMAND_TIMEOUT, block_seconds
from inference.jobqueue.localredis import RedisServer
from tests.conftest import make_job

#: the redis-py errors a caller gets instead of a hang
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
#: what a call may take against a frozen server: the command timeout, a blocking call's block
#: time (2 s at most in the bot and the worker), and room for a slow machine
LIMIT = 15.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    private = RedisServer(tmp_path / "redis").start()
    yield private
    thaw(private)
    private.kill()


def thaw(server: RedisServer) -> None:
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)


@contextlib.contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        thaw(server)


async def timed(
    call: Callable[[], Awaitable[Any]], patience: float = 60.0
) -> tuple[BaseException | None, float]:
    """What ``call`` raised (None if it returned) and how long it took; gives up after ``patience``."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(call(), patience)
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


async def test_every_kind_of_call_to_a_frozen_redis_fails_within_seconds_then_works_again(
    server: RedisServer,
) -> None:
    settings = QueueSettings(redis_url=server.url, namespace="frozen")
    async with connect(server.url) as redis:
        queue = JobQueue(redis, settings)
        consumer = EventConsumer(redis, settings.keys, "bot", "bot-1")
        await consumer.ensure_group()
        await redis.set("k", "v")  # one connection is open before the freeze, the others are new
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "a plain command": lambda: redis.get("k"),
            "a Lua script (enqueue)": lambda: queue.enqueue(make_job()),
            "a pipeline": lambda: redis.pipeline(transaction=True).incr("n").get("k").execute(),
            "the bot's event read (XREADGROUP BLOCK 2000)": lambda: consumer.new(block_seconds=2.0),
            "the worker's wait for work (BLPOP 1)": lambda: queue.wait_for_work(["cogvideox-2b"], 1.0),
        }
        with frozen(server):
            outcomes = await asyncio.gather(*(timed(call) for call in calls.values()))
        for what, (error, seconds) in zip(calls, outcomes, strict=True):
            assert isinstance(error, REDIS_DOWN), f"{what}: {error!r} after {seconds:.1f} s"
            assert seconds < LIMIT, f"{what} took {seconds:.1f} s"
        # the same client, nothing reconnected by hand
        assert await redis.get("k") == "v"
        assert not (await queue.enqueue(make_job())).replayed
        assert await consumer.new(block_seconds=0.1) == []


async def test_a_new_client_cannot_hang_on_a_frozen_redis_either(server: RedisServer) -> None:
    with frozen(server):
        async with connect(server.url) as redis:
            error, seconds = await timed(redis.ping)
    assert isinstance(error, REDIS_DOWN) and seconds < LIMIT, (error, seconds)


async def test_the_timeout_is_the_command_timeout_not_a_multiple_of_it(server: RedisServer) -> None:
    # a reply that does not come is not retried: asking again would only double the wait
    async with connect(server.url, timeout=0.5) as redis:
        await redis.ping()
        with frozen(server):
            error, seconds = await timed(lambda: redis.get("k"))
    assert isinstance(error, RedisTimeoutError)
    assert 0.4 < seconds < 0.5 * 4, seconds


async def test_a_blocking_command_waits_its_block_time_on_top_of_the_timeout(server: RedisServer) -> None:
    async with connect(server.url, timeout=0.5) as redis:
        # blocks longer than the timeout end normally on a live server
        started = time.monotonic()
        assert await redis.xread({"stream": "$"}, block=1500) == []
        assert await redis.blpop(["list"], timeout=1.5) is None
        consumer = EventConsumer(redis, Keys("blocking"), "bot", "bot-1")
        await consumer.ensure_group()
        assert await consumer.new(block_seconds=1.5) == []
        assert time.monotonic() - started >= 4.5
        # and on a frozen one they fail after their block time and the timeout
        with frozen(server):
            error, seconds = await timed(lambda: redis.xread({"stream": "$"}, block=1000))
        # the late reply went with the dropped connection: it answers no later command
        assert await redis.set("after", "1") and await redis.get("after") == "1"
    assert isinstance(error, RedisTimeoutError)
    assert 1.4 < seconds < 1.5 * 4, seconds


def test_the_default_timeout_bounds_every_call_well_inside_a_lease() -> None:
    assert 1.0 <= COMMAND_TIMEOUT <= QueueSettings().lease_seconds / 2


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        (("GET", "k"), 0.0),
        (("BLPOP", "a", "b", 1.5), 1.5),
        (("BRPOP", "a", "0.01"), 0.01),
        (("BZPOPMIN", "z", 2), 2.0),
        (("BLMOVE", "a", "b", "LEFT", "RIGHT", 3), 3.0),
        (("BLMPOP", 4, 1, "a", "LEFT"), 4.0),
        (("BZMPOP", 5, 1, "z", "MIN"), 5.0),
        (("XREAD", "COUNT", 100, "BLOCK", 30000, "STREAMS", "s", "$"), 30.0),
        (("XREADGROUP", "GROUP", "g", "c", "COUNT", 100, "BLOCK", 2000, "STREAMS", "s", ">"), 2.0),
        ((b"XREADGROUP", b"GROUP", b"g", b"c", b"block", b"250", b"STREAMS", b"s", b">"), 0.25),
        (
            ("XREADGROUP", "GROUP", "g", "c", "COUNT", 100, "STREAMS", "BLOCK", "0"),
            0.0,
        ),  # a stream named BLOCK
        (("XREAD", "STREAMS", "s", "0"), 0.0),
        (("WAIT", 1, 500), 0.5),
        (("BLPOP", "a", 0), None),  # for ever: the caller asked for it
        (("XREAD", "BLOCK", 0, "STREAMS", "s", "$"), None),
        (("BLPOP",), 0.0),  # malformed: the server refuses it at once
        ((), 0.0),
    ],
)
def test_blocking_commands_are_recognised_with_their_block_time(
    args: tuple[Any, ...], seconds: float | None
) -> None:
    assert block_seconds(args) == seconds


async def test_clients_use_the_asyncio_retry_so_redis_py_has_nothing_to_convert(server: RedisServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "A synchronous redis.retry.Retry was passed to an asyncio client"
        async with connect(server.url) as redis:
            assert await redis.ping()
        async with connect(server.url, binary=True, retries=3) as redis:
            assert await redis.ping()


async def test_a_restarted_redis_is_still_retried_across(server: RedisServer) -> None:
    async with connect(server.url) as redis:
        await redis.set("k", "v")
        server.stop()  # graceful: the AOF keeps the key

        async def restart_soon() -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(server.start)

        restarting = asyncio.create_task(restart_soon())
        assert await redis.get("k") == "v"  # refused, retried with backoff, answered
        await restarting
