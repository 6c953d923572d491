"""Crash drills: workers killed mid-job and Redis restarted under load lose nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inference.contract import JobRecord, JobStatus, ModelId
from inference.jobqueue import EventConsumer, JobQueue, QueueSettings, connect
from inference.jobqueue.localredis import RedisServer
from inference.jobqueue.worker import JobContext, Worker
from tests.conftest import delete_namespace, make_job

ROOT = Path(__file__).parents[1]
LANE = ModelId.COGVIDEOX_2B.value

pytestmark = pytest.mark.slow


async def quick_render(ctx: JobContext) -> dict[str, Any]:
    await ctx.step(1, 1)
    return {"clip": f"blob:{ctx.job.id}", "rescued_by": ctx.lease.job.worker_id}


async def wait_until_mid_job(queue: JobQueue, job_id: str, worker_id: str, timeout: float = 20) -> None:
    """Until the victim has claimed the job and reported at least one step."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen_step = False
    last = "0"
    while not seen_step:
        assert loop.time() < deadline, f"worker {worker_id} never started job {job_id}"
        for entry_id, fields in await queue.redis.xrange(
            queue.keys.events(), f"({last}" if last != "0" else "-"
        ):
            last = entry_id
            if fields["job"] == job_id and fields["type"] == "progress":
                record = await queue.get(job_id)
                seen_step = record.worker_id == worker_id
        await asyncio.sleep(0.02)


async def test_workers_killed_mid_job_twenty_times_lose_nothing(
    queue: JobQueue, settings: QueueSettings
) -> None:
    jobs: list[JobRecord] = []
    for round_ in range(20):
        # every fourth job allows a single attempt: the kill must fail it, visibly
        job = (
            await queue.enqueue(make_job(user=str(round_ + 1), max_attempts=1 if round_ % 4 == 0 else 3))
        ).job
        jobs.append(job)
        victim_id = f"victim-{round_}"
        victim = subprocess.Popen(
            [sys.executable, "-m", "tests.drill_worker", settings.redis_url, settings.namespace, victim_id],
            cwd=ROOT,
        )
        try:
            await wait_until_mid_job(queue, job.id, victim_id)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        rescuer = Worker(queue, [LANE], quick_render, worker_id=f"rescuer-{round_}")
        rescuing = asyncio.create_task(rescuer.run())
        while not (await queue.get(job.id)).status.terminal:
            await asyncio.sleep(0.05)
        rescuer.stop()
        await rescuing

    consumer = EventConsumer(queue.redis, queue.keys, "drill", "drill-1")
    await consumer.ensure_group()
    finals: Counter[str] = Counter()
    while batch := await consumer.read(block_seconds=0.1):
        finals.update(d.event.job_id for d in batch if d.event and d.event.type.final)
        await consumer.ack([d.id for d in batch])
    assert finals == Counter({job.id: 1 for job in jobs})  # every job ended exactly once
    for job in jobs:
        record = await queue.get(job.id)
        if job.max_attempts == 1:
            assert record.status is JobStatus.FAILED
            assert record.error is not None and "stopped responding 1 time(s)" in record.error
        else:
            assert (record.status, record.attempts) == (JobStatus.SUCCEEDED, 2)
            assert record.result is not None and record.result["clip"] == f"blob:{job.id}"
    assert await queue.depth() == {}
    assert await queue.running() == 0


async def produce_until(queue: JobQueue, stop: asyncio.Event, acked: list[str], producer: int) -> None:
    """Enqueue jobs until ``stop``; a failed enqueue is retried with the same request id."""
    n = 0
    while not stop.is_set():
        job = make_job(guild=str(producer + 1), user=str(n % 7 + 1), request_id=f"p{producer}-{n}")
        while True:
            try:
                acked.append((await queue.enqueue(job)).job.id)
                break
            except Exception:  # the server is down for longer than the client's retries
                await asyncio.sleep(0.05)
        n += 1


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the drill's load did not get going"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("how", "fsync"),
    [("SIGTERM", "everysec"), ("SIGKILL", "always")],
    ids=["graceful-restart-everysec", "crash-appendfsync-always"],
)
async def test_redis_restarted_under_load_loses_no_acknowledged_job(
    tmp_path: Path, how: str, fsync: str
) -> None:
    server = RedisServer(tmp_path / "redis", None, "--appendfsync", fsync).start()
    settings = QueueSettings(redis_url=server.url, namespace="drill", global_cap=0, guild_cap=0)
    redis = connect(server.url)
    queue = JobQueue(redis, settings)
    processed: list[str] = []

    async def record(ctx: JobContext) -> dict[str, Any]:
        processed.append(ctx.job.id)
        return {}

    worker = Worker(queue, [LANE], record, concurrency=4)
    working = asyncio.create_task(worker.run())
    stop = asyncio.Event()
    acked: list[str] = []
    producers = [asyncio.create_task(produce_until(queue, stop, acked, p)) for p in range(4)]
    try:
        # counts of acknowledged jobs, not durations: a slow machine only takes longer
        await until(lambda: len(acked) > 100, 120)  # under load
        before = len(acked)
        (server.stop if how == "SIGTERM" else server.kill)()
        await asyncio.sleep(0.3)  # down for a moment: the clients retry meanwhile
        server.start()
        await until(lambda: len(acked) > before + 100, 120)  # under load again after the restart
        stop.set()
        await asyncio.gather(*producers)
        worker.stop()
        await working
        missing = []
        statuses: Counter[str] = Counter()
        for job_id in set(acked):
            fields = await redis.hgetall(settings.keys.job(job_id))
            if not fields:
                missing.append(job_id)
            else:
                statuses[fields["status"]] += 1
        assert missing == []
        # the restart left no job half-moved: each is either done or still queued
        assert set(statuses) <= {"queued", "succeeded", "running"}
        assert statuses["queued"] == (await queue.depth()).get("all", 0)
    finally:
        await delete_namespace(redis, "drill")
        await redis.aclose()
        server.stop()


def test_redis_server_helper_restarts_on_the_same_port_and_data(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r").start()
    port = server.port
    server.stop()
    server.start()
    assert server.port == port
    assert (tmp_path / "r" / "appendonlydir").is_dir()
    server.stop()
