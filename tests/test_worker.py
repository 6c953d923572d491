"""The worker loop: handlers, failures, time limits, cancel at the next step, graceful stop."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

from inference.contract import JobStatus, ModelId
from inference.jobqueue import JobQueue
from inference.jobqueue.worker import JobContext, PermanentJobError, Worker
from tests.conftest import make_job

LANE = ModelId.COGVIDEOX_2B.value


async def render(ctx: JobContext, steps: int = 5, delay: float = 0.01) -> dict[str, Any]:
    for step in range(1, steps + 1):
        await asyncio.sleep(delay)
        await ctx.step(step, steps)
    return {"clip": f"blob:{ctx.job.id}", "prompt": ctx.job.spec.prompt}


async def test_burst_worker_runs_every_job_and_stops(queue: JobQueue) -> None:
    ids = [(await queue.enqueue(make_job(user=str(i + 1)))).job.id for i in range(5)]
    worker = Worker(queue, [LANE], render, concurrency=2)
    await worker.run(burst=True)
    records = [await queue.get(job_id) for job_id in ids]
    assert {r.status for r in records} == {JobStatus.SUCCEEDED}
    assert records[0].result == {"clip": f"blob:{ids[0]}", "prompt": "a bee on a flower"}
    assert worker.outcomes == {"succeeded": 5}
    assert await queue.redis.exists(queue.keys.worker(worker.worker_id)) == 0


async def test_a_crashing_handler_fails_that_job_and_the_worker_goes_on(queue: JobQueue) -> None:
    bad = (await queue.enqueue(make_job(prompt="explode"))).job
    good = (await queue.enqueue(make_job(user="2"))).job

    async def handler(ctx: JobContext) -> dict[str, Any]:
        if ctx.job.spec.prompt == "explode":
            raise RuntimeError("kaboom")
        return await render(ctx)

    await Worker(queue, [LANE], handler).run(burst=True)
    failed = await queue.get(bad.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "rendering failed (RuntimeError); the team can look it up by job id"
    assert (await queue.get(good.id)).status is JobStatus.SUCCEEDED


async def test_a_permanent_error_reaches_the_member_as_written(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job

    async def handler(ctx: JobContext) -> dict[str, Any]:
        raise PermanentJobError("The GPU ran out of memory; try the 2b model")

    await Worker(queue, [LANE], handler).run(burst=True)
    assert (await queue.get(job.id)).error == "The GPU ran out of memory; try the 2b model"


async def test_a_job_over_its_time_limit_fails(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job

    async def slow(ctx: JobContext) -> dict[str, Any]:
        return await render(ctx, steps=100, delay=0.05)

    await Worker(queue, [LANE], slow, job_timeout=0.3).run(burst=True)
    record = await queue.get(job.id)
    assert (record.status, record.error) == (JobStatus.FAILED, "rendering took longer than the 0.3 s limit")


async def test_cancel_stops_a_running_job_within_one_step(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    steps_done: list[int] = []

    async def handler(ctx: JobContext) -> dict[str, Any]:
        for step in range(1, 1000):
            await asyncio.sleep(0.01)
            steps_done.append(step)
            await ctx.step(step, 1000)
        return {}

    worker = asyncio.create_task(Worker(queue, [LANE], handler, progress_interval=60).run(burst=True))
    while len(steps_done) < 5:
        await asyncio.sleep(0.01)
    assert await queue.cancel(job.id) == "cancelling"
    at_cancel = len(steps_done)
    await asyncio.wait_for(worker, 5)
    assert (await queue.get(job.id)).status is JobStatus.CANCELLED
    assert len(steps_done) - at_cancel <= 1


async def test_heartbeats_keep_a_long_job_alive(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job

    async def long(ctx: JobContext) -> dict[str, Any]:
        # three lease lengths without a single step call: only the heartbeat renews it
        await asyncio.sleep(queue.settings.lease_seconds * 3)
        return {"clip": "done"}

    other = JobQueue(queue.redis, queue.settings)
    reaping = asyncio.create_task(_reap_forever(other))
    await Worker(queue, [LANE], long).run(burst=True)
    reaping.cancel()
    record = await queue.get(job.id)
    assert (record.status, record.attempts) == (JobStatus.SUCCEEDED, 1)


async def _reap_forever(queue: JobQueue) -> None:
    while True:
        await queue.reap()
        await asyncio.sleep(0.05)


async def stop_while_running(queue: JobQueue, seconds: float, grace: float) -> None:
    """Start a worker on a job that takes ``seconds``, stop it once the job has started."""
    started = asyncio.Event()

    async def render_for(ctx: JobContext) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(seconds)
        return {"clip": "made it"}

    worker = Worker(queue, [LANE], render_for, grace_seconds=grace)
    task = asyncio.create_task(worker.run())
    await started.wait()
    worker.stop()
    await asyncio.wait_for(task, 5)


async def test_stop_hands_an_unfinished_job_back_to_the_queue(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    await stop_while_running(queue, seconds=3600, grace=0.2)
    record = await queue.get(job.id)
    assert (record.status, record.attempts) == (JobStatus.QUEUED, 0)
    assert (await queue.depth())["all"] == 1


async def test_stop_lets_a_job_finish_inside_the_grace_period(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    await stop_while_running(queue, seconds=0.2, grace=5)
    assert (await queue.get(job.id)).result == {"clip": "made it"}


async def test_a_worker_serving_two_lanes_alternates_between_them(queue: JobQueue) -> None:
    t2v = [(await queue.enqueue(make_job())).job.id for _ in range(3)]
    i2v = [(await queue.enqueue(make_job(model=ModelId.COGVIDEOX_5B_I2V))).job.id for _ in range(3)]
    order: list[str] = []

    async def handler(ctx: JobContext) -> dict[str, Any]:
        order.append(ctx.job.id)
        return {}

    await Worker(queue, [LANE, ModelId.COGVIDEOX_5B_I2V.value], handler).run(burst=True)
    lanes = ["t" if job_id in t2v else "i" for job_id in order]
    assert sorted(order) == sorted(t2v + i2v)
    assert lanes in (["t", "i"] * 3, ["i", "t"] * 3)


def key_patterns(keys) -> list[re.Pattern[str]]:
    """A regular expression per Keys builder, so a key the Lua scripts made can be matched."""
    patterns = []
    for name in dir(keys):
        fn = getattr(keys, name)
        if name.startswith("_") or not callable(fn) or name == "lane_from_key":
            continue
        argc = fn.__code__.co_argcount - 1
        sample = fn(*[f"\0{i}\0" for i in range(argc)])
        regex = re.escape(sample)
        for i in range(argc):
            regex = regex.replace(re.escape(f"\0{i}\0"), "[^:]+")
        patterns.append(re.compile(f"^{regex}$"))
    return patterns


async def test_every_key_the_scripts_write_is_one_the_contract_names(queue: JobQueue) -> None:
    for i in range(3):
        await queue.enqueue(make_job(guild=str(i + 1), user=str(i + 1)))
    await queue.enqueue(make_job(model=ModelId.COGVIDEOX_5B_I2V))
    await queue.register_worker("w1", [LANE], {})
    [lease] = await queue.claim("w1", [LANE])
    await queue.progress(lease, 1, 2)
    await queue.cancel((await queue.enqueue(make_job(user="9"))).job.id)
    patterns = key_patterns(queue.keys)
    seen = [key async for key in queue.redis.scan_iter(f"{queue.keys.prefix}*")]
    assert len(seen) > 10
    strays = [key for key in seen if not any(p.match(key) for p in patterns)]
    assert strays == []


async def test_every_key_left_behind_expires_or_is_structural(queue: JobQueue) -> None:
    queue = JobQueue(queue.redis, replace(queue.settings, retention_seconds=600))
    for i in range(4):
        await queue.enqueue(make_job(guild=str(i % 2 + 1), user=str(i + 1)))
    cancelled = (await queue.enqueue(make_job(user="9"))).job
    await queue.cancel(cancelled.id)
    await Worker(queue, [LANE], render).run(burst=True)
    structural = {
        queue.keys.sequence(),  # counter
        queue.keys.events(),  # stream, trimmed by MAXLEN
        queue.keys.lane_state(LANE),  # virtual clocks and run-time average, a few fields
    }
    left = {key: await queue.redis.ttl(key) async for key in queue.redis.scan_iter(f"{queue.keys.prefix}*")}
    no_ttl = {key for key, ttl in left.items() if ttl < 0}
    assert no_ttl <= structural, no_ttl - structural
    assert all(0 < ttl <= 600 for key, ttl in left.items() if key not in structural)
    state = await queue.redis.hgetall(queue.keys.lane_state(LANE))
    assert set(state) <= {"run_avg"}  # nothing per guild stays once the lane is empty
