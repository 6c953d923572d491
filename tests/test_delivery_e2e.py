"""Delivery under trouble, end to end: the real discord.py bot, the Discord double, real Redis, a
tiny-model worker. A review channel the bot cannot post in, Redis gone while a clip is posted, a
poison event, a killed delivery loop, and a close that must finish whatever fails on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from redis.exceptions import RedisError

from bot.delivery.loop import GROUP, DeliveryLoop
from bot.jobs import ClipState
from bot.modconfig import ModerationStore
from inference.jobqueue import JobQueue, QueueSettings, connect
from inference.jobqueue.localredis import RedisServer, free_port
from inference.storage import BlobNotFound
from tests.bot_box import Box, answered, moderated, open_box, reply_text
from tests.discord_double.world import SEND_MESSAGES, RecordedRequest

pytestmark = pytest.mark.timeout(240)

#: how long Redis stays away in the outage drill
OUTAGE_SECONDS = 15.0


def queued_id(reply: str) -> str:
    """The job id in a "Queued `<id>`" reply."""
    assert reply.startswith("Queued `"), reply
    return reply.split("`")[1]


def clip_messages(box: Box, channel: int, job_id: str) -> list[Any]:
    name = f"reelbot-{job_id}.mp4"
    return [m for m in box.double.messages(channel) if any(a["filename"] == name for a in m.attachments)]


async def quota_used(box: Box, guild: int) -> int:
    day = int(time.time() // 86400)
    return int(await box.queue.redis.hget(box.queue.keys.quota(str(guild), day), "used") or 0)


# ------------------------------------------------------------------- review channel


def refusal_of(job_id: str) -> Callable[[Any], bool]:
    """A public message about ``job_id`` that names the review channel."""
    return lambda m: not m.flags & 64 and job_id in m.content and "review channel" in m.content


async def test_an_unpostable_review_channel_refuses_its_clips_tells_the_admins_once_others_go_on(
    box: Box,
) -> None:
    review = await moderated(box, before_posting="every")
    box.double.deny_bot(review, SEND_MESSAGES)  # an admin takes Send Messages away there
    log_channel: int = box.log_channel  # type: ignore[attr-defined]
    # a second community on the same bot, whose clips need no moderator
    other_guild = box.double.add_guild("painters")
    other_channel = box.double.add_channel(other_guild, "clips")
    painter = box.double.add_member(other_guild, "cy")
    await ModerationStore(box.queue.redis, box.queue.keys).change(
        str(other_guild),
        {"review_at": 0.9, "block_at": 0.98},  # as open_box does: noise is never flagged
    )
    assert box.bot is not None
    box.bot.tree.copy_global_to(guild=discord.Object(other_guild))  # as a guild that just added the bot
    await box.bot.tree.sync(guild=discord.Object(other_guild))

    asked = [
        await box.video(prompt="a red kite", seed=1),
        await box.video(box.other, prompt="a blue kite", seed=2),
        await box.double.slash(other_guild, other_channel, painter, "video", {"prompt": "a green kite"}),
    ]
    first_id, second_id, painter_id = [queued_id(await answered(box, i)) for i in asked]

    for job_id in (first_id, second_id):
        told = await box.double.wait_for_message(box.channel, refusal_of(job_id), 90)
        assert "cannot post in this server's review channel" in told.content, told.content
    painted = await box.double.wait_for_message(
        other_channel, lambda m: any(a["filename"] == f"reelbot-{painter_id}.mp4" for a in m.attachments), 90
    )

    assert f"<@{painter}>" in painted.content  # the other guild's clip went out as usual
    admins = [m for m in box.double.messages(log_channel) if "For this server's admins" in m.content]
    assert len(admins) == 1, [m.content for m in admins]  # two clips refused, the admins told once
    assert f"<#{review}>" in admins[0].content and "Send Messages" in admins[0].content
    problems = [e for e in await box.parts.audit.recent(str(box.guild)) if e.action == "problem"]
    assert len(problems) == 1
    assert "review channel" in await box.ask(box.admin, "settings show")
    for job_id in (first_id, second_id):
        notes = await box.parts.jobs.notes(job_id)
        assert notes.clip_state is ClipState.REFUSED and notes.clip_message is None
        clip = (await box.queue.get(job_id)).clip()
        assert clip is not None
        with pytest.raises(BlobNotFound):
            await box.store.get(clip.clip_ref)  # a clip no moderator saw is not kept
        assert clip_messages(box, box.channel, job_id) == [] and clip_messages(box, review, job_id) == []
    assert await quota_used(box, box.guild) == 0
    assert box.double.violations == []


# ------------------------------------------------------------------- Redis outage


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of the test's own, with its AOF fsynced on every write, that it may stop."""
    server = RedisServer(tmp_path / "redis", free_port(), "--appendfsync", "always").start()
    yield server
    server.stop()


@pytest.fixture
async def outage_box(
    restore_discord_urls: None, private_redis: RedisServer, models: Any, classifier: Any
) -> AsyncIterator[Box]:
    settings = QueueSettings(
        redis_url=private_redis.url,
        namespace=f"rbtest-{uuid.uuid4().hex[:12]}",
        lease_seconds=1.0,
        heartbeat_seconds=0.25,
        reap_interval_seconds=0.1,
        global_cap=10_000,
        guild_cap=5_000,
    )
    redis = connect(private_redis.url)
    try:
        async with open_box(JobQueue(redis, settings), settings, models, classifier) as world:
            yield world
    finally:
        await redis.aclose()


async def test_redis_stopped_for_15_s_while_a_clip_is_posted_posts_it_once_records_and_charges_it(
    outage_box: Box, private_redis: RedisServer
) -> None:
    box = outage_box
    assert "Changed" in await box.ask(box.admin, "settings limits", server_daily=5)
    restarting: list[asyncio.Task[None]] = []

    async def restart_later() -> None:
        await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for something to happen
        await asyncio.to_thread(private_redis.start)  # same port, same data directory

    def stop_redis(record: RecordedRequest) -> None:
        # Discord has the clip, the bot has not heard back yet: it cannot record it for 15 s
        private_redis.stop()
        restarting.append(asyncio.get_running_loop().create_task(restart_later()))

    box.double.after_request("POST", "/channels/*/messages", stop_redis, with_files=True)
    try:
        job_id = queued_id(await answered(box, await box.video(prompt="through the outage", seed=3)))

        async def recorded() -> bool:
            """The clip's message is in the job's notes and the clip charged (recorded, then settled)."""
            try:
                notes = await box.parts.jobs.notes(job_id)
                quota = await box.queue.redis.hget(box.queue.keys.job(job_id), "quota")
            except RedisError:  # still down
                return False
            return notes.clip_message is not None and quota == "charged"

        await box.double.wait_for_async(recorded, 120)
    finally:
        for task in restarting:
            await task
    assert restarting, "the clip was never posted"

    clips = clip_messages(box, box.channel, job_id)
    assert len(clips) == 1, [m.id for m in clips]
    posts = [
        r for r in box.double.requests if r.method == "POST" and r.files and r.path.endswith("/messages")
    ]
    assert len(posts) >= 2  # the bot posted again after the outage; Discord's nonce kept it to one message
    notes = await box.parts.jobs.notes(job_id)
    assert (notes.clip_message, notes.clip_state) == (str(clips[0].id), ClipState.POSTED)
    assert await quota_used(box, box.guild) == 1
    # the worker and the bot carry on on the restarted server
    later_id = queued_id(await answered(box, await box.video(box.other, prompt="after the outage", seed=4)))
    await box.clip_message(later_id, 90)
    assert len(clip_messages(box, box.channel, job_id)) == 1
    assert box.double.violations == []


# ------------------------------------------------------------------- poison event


async def test_a_poison_event_is_set_aside_after_its_tries_and_later_events_flow(box: Box) -> None:
    box.parts.delivery.backoff = 0.05
    await box.stop_worker()
    poison_id = queued_id(await answered(box, await box.video(prompt="a result nobody can read")))
    lane = (await box.queue.get(poison_id)).spec.model.value
    # finish it as a worker would, but with a result this bot cannot read
    lease = (await box.queue.claim("w", [lane]))[0]
    assert lease.job_id == poison_id
    await box.queue.complete(lease, {"clip": "not a clip result"})
    dead_key = box.queue.keys.dead_events()

    async def set_aside() -> bool:
        return bool(await box.queue.redis.xlen(dead_key))

    await box.double.wait_for_async(set_aside, 30)
    told = await box.double.wait_for_message(
        box.channel, lambda m: "something went wrong" in m.content and poison_id in m.content, 10
    )
    entries: list[tuple[str, dict[str, str]]] = await box.queue.redis.xrange(dead_key)  # type: ignore[assignment]
    [(_, dead)] = entries
    assert dead["job"] == poison_id and dead["type"] == "succeeded" and "ContractError" in dead["error"]
    assert f"<@{box.member}>" in told.content and f"reference `{dead['ref']}`" in told.content

    box.start_worker()
    later_id = queued_id(await answered(box, await box.video(prompt="a readable one", seed=5)))
    await box.clip_message(later_id, 90)
    events = box.queue.keys.events()

    async def nothing_pending() -> bool:
        return int((await box.queue.redis.xpending(events, GROUP))["pending"]) == 0

    await box.double.wait_for_async(nothing_pending, 30)  # every event, the poison one too, acknowledged
    assert await box.queue.redis.xlen(dead_key) == 1
    about = [m for m in box.double.messages(box.channel) if "something went wrong" in m.content]
    assert len(about) == 1
    assert box.double.violations == []


# ------------------------------------------------------------------- supervision


async def _stopped_within(box: Box, seconds: float) -> bool:
    """Whether ``box.stop_bot()`` returned within ``seconds``.

    ``asyncio.wait``, not ``wait_for``: a close that hangs is reported as such, not cancelled
    into returning (a cancellation can be lost or swallowed on the way, see the last test).
    """
    stopping = asyncio.create_task(box.stop_bot())
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    if not done:  # let the fixture's teardown find a bot it can close
        stopping.cancel()
        await asyncio.wait({stopping}, timeout=seconds)
    return bool(done)


async def _restart_with(box: Box, **settings: Any) -> None:
    # bounded: a close that hangs (the last test) must not hang the test that only restarts
    await _stopped_within(box, 20)
    box.settings = dataclasses.replace(box.settings, **settings)
    await box.start_bot()


async def test_a_killed_delivery_loop_is_restarted_and_healthz_says_503_meanwhile(box: Box) -> None:
    port = free_port()
    await _restart_with(box, metrics_port=port)
    assert box.bot is not None
    delivery = box.bot.supervisor.loops["delivery"]
    seen: list[tuple[int, dict[str, Any]]] = []

    async with aiohttp.ClientSession() as http:

        async def health_is(status: int) -> bool:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
                seen.append((reply.status, await reply.json()))
            return reply.status == status

        await box.double.wait_for_async(lambda: health_is(200), 20)
        assert delivery.task is not None
        delivery.task.cancel()  # killed by someone other than the supervisor
        await box.double.wait_for_async(lambda: health_is(503), 10)
        down = seen[-1][1]
        await box.double.wait_for_async(lambda: health_is(200), 20)

    assert down["status"] == "unhealthy" and "the delivery loop is not running" in down["problems"]
    assert seen[-1] == (200, {"status": "ok", "problems": []})
    assert delivery.restarts == 1 and delivery.running
    job_id = queued_id(await answered(box, await box.video(prompt="after the restart", seed=6)))
    await box.clip_message(job_id, 90)
    assert box.double.violations == []


async def test_close_always_closes(
    box: Box, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def breaks_when_stopped(self: DeliveryLoop) -> None:
        # a stand-in with no Redis command in flight, so that it sees its first cancellation:
        # this test is about a loop that raises when stopped; the next, about one that misses it
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("the delivery loop broke while stopping") from None

    monkeypatch.setattr(DeliveryLoop, "run", breaks_when_stopped)
    await _restart_with(box)  # a bot whose delivery loop fails when it is stopped
    assert box.bot is not None
    bot = box.bot
    await box.double.wait_for(lambda: all(loop.running for loop in bot.supervisor.loops.values()), 10)
    closed_after: list[str] = []

    async def failing_closer() -> None:
        raise RuntimeError("a client that will not close")

    async def later_closer() -> None:
        closed_after.append("closed")

    bot.closers += [failing_closer, later_closer]

    with caplog.at_level(logging.ERROR):
        assert await _stopped_within(box, 20), "bot.close() did not return"

    assert bot.is_closed()
    assert closed_after == ["closed"]  # the closer after the failing one still ran
    logged = [r.getMessage() for r in caplog.records]
    assert any("the delivery loop failed while stopping" in m for m in logged), logged
    assert any("closing:" in m and "failing_closer" in m for m in logged), logged
    assert not any(loop.running for loop in bot.supervisor.loops.values())
    assert box.double.violations == []


async def test_close_closes_even_when_a_loop_misses_its_cancellation(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What happens by chance to a close that lands while the loop is sending a Redis command
    (before ``Supervised.stop`` cancelled again, two closes in three right after a clip was
    posted hung, and one in three right after the loop started).

    redis-py sends each command under ``asyncio.wait_for(..., socket_timeout)``. Python
    3.11's ``wait_for`` returns the result when the cancellation arrives just as the send
    finishes (bpo-42130, fixed in 3.12), so the loop's task never sees it and goes on
    reading events. Here the loop misses its first cancellation on purpose, every time.
    """
    real_run = DeliveryLoop.run

    async def misses_its_first_cancellation(self: DeliveryLoop) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # lost, as in redis-py's wait_for on 3.11
            await real_run(self)
        await real_run(self)

    monkeypatch.setattr(DeliveryLoop, "run", misses_its_first_cancellation)
    await _restart_with(box)
    assert box.bot is not None
    bot = box.bot

    assert await _stopped_within(box, 10), "bot.close() did not return"
    assert bot.is_closed()


# ------------------------------------------------------------------- a frozen Redis


async def test_a_command_while_redis_is_frozen_is_answered_and_the_bot_recovers(
    outage_box: Box, private_redis: RedisServer
) -> None:
    box = outage_box
    assert private_redis.process is not None
    private_redis.process.send_signal(signal.SIGSTOP)  # frozen: connections open, no replies
    try:
        asked = await box.video(prompt="while the database sleeps")
        # the client gives up after its command timeout (5 s): well before Discord's 15 minutes
        await box.double.wait_for(lambda: bool(asked.followups), 60)
    finally:
        private_redis.process.send_signal(signal.SIGCONT)

    assert "cannot reach its database right now" in reply_text(asked) and "Queued" not in reply_text(asked)
    later = await answered(box, await box.video(prompt="after it woke up"))
    assert later.startswith("Queued `")
    assert box.double.violations == []
