"""The queue's behaviour on a real Redis: idempotency, lanes, leases, fencing, cancel, caps."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from inference.contract import ContractError, JobEvent, JobStatus, ModelId
from inference.jobqueue import JobNotFound, JobQueue, LeaseLost, QueueFull, QueueSettings
from tests.conftest import make_job

T2V = ModelId.COGVIDEOX_2B.value
I2V = ModelId.COGVIDEOX_5B_I2V.value


async def events_of(queue: JobQueue, job_id: str) -> list[JobEvent]:
    entries = await queue.redis.xrange(queue.keys.events())
    events = [JobEvent.from_fields(fields) for _, fields in entries]
    return [e for e in events if e.job_id == job_id]


async def test_enqueue_records_the_job_with_server_time(queue: JobQueue) -> None:
    job = make_job()
    queued = await queue.enqueue(job)
    assert not queued.replayed
    assert queued.job.id == job.id
    assert queued.job.status is JobStatus.QUEUED
    assert queued.job.created_at > 1.7e9
    assert queued.job.spec == job.spec
    # what the enqueue script wrote reads back as the very record that was sent
    stored = await queue.get(job.id)
    assert stored == replace(job, created_at=queued.job.created_at, updated_at=queued.job.created_at)
    assert await queue.depth() == {"all": 1, "guild:100": 1}
    assert (await queue.lane_stats(T2V)).depth == 1


async def test_replayed_request_returns_the_existing_job(queue: JobQueue) -> None:
    first = await queue.enqueue(make_job(request_id="interaction-42"))
    # the same interaction delivered again (a retry, a gateway replay), even concurrently
    replays = await asyncio.gather(*(queue.enqueue(make_job(request_id="interaction-42")) for _ in range(20)))
    assert {r.job.id for r in replays} == {first.job.id}
    assert all(r.replayed for r in replays)
    assert (await queue.depth())["all"] == 1


async def test_worker_claims_only_jobs_for_its_models(queue: JobQueue) -> None:
    t2v = await queue.enqueue(make_job(model=ModelId.COGVIDEOX_2B))
    i2v = await queue.enqueue(make_job(model=ModelId.COGVIDEOX_5B_I2V))
    assert [lease.job_id for lease in await queue.claim("w-i2v", [I2V], 5)] == [i2v.job.id]
    assert await queue.claim("w-i2v", [I2V], 5) == []
    assert [lease.job_id for lease in await queue.claim("w-t2v", [T2V], 5)] == [t2v.job.id]


async def test_claim_marks_running_and_counts_the_attempt(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    [lease] = await queue.claim("w1", [T2V])
    assert lease.job.status is JobStatus.RUNNING
    assert lease.job.attempts == 1
    assert lease.job.worker_id == "w1"
    assert (await queue.get(job.id)).status is JobStatus.RUNNING
    assert await queue.depth() == {}
    [event] = await events_of(queue, job.id)
    assert (event.type, event.attempt, event.data) == ("running", 1, {"worker": "w1"})


async def test_complete_records_result_and_publishes_it(queue: JobQueue, settings: QueueSettings) -> None:
    job = (await queue.enqueue(make_job())).job
    [lease] = await queue.claim("w1", [T2V])
    await queue.complete(lease, {"clip": "blob:abc", "frames": 49})
    done = await queue.get(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.result == {"clip": "blob:abc", "frames": 49}
    assert done.finished_at is not None
    assert await queue.running() == 0
    last = (await events_of(queue, job.id))[-1]
    assert (last.type, last.data) == ("succeeded", {"result": {"clip": "blob:abc", "frames": 49}})
    # finished records are kept for the retention time, with their request id
    job_ttl = await queue.redis.ttl(queue.keys.job(job.id))
    req_ttl = await queue.redis.ttl(queue.keys.request(job.request_id))
    assert settings.retention_seconds - 5 <= job_ttl <= settings.retention_seconds
    assert settings.retention_seconds - 5 <= req_ttl <= settings.retention_seconds


async def test_stale_worker_cannot_complete_after_takeover(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    [stale] = await queue.claim("slow-worker", [T2V])
    await asyncio.sleep(queue.settings.lease_seconds + 0.1)
    assert (await queue.reap()).requeued == 1
    [fresh] = await queue.claim("fresh-worker", [T2V])
    assert fresh.job.attempts == 2
    with pytest.raises(LeaseLost):
        await queue.complete(stale, {"clip": "stale"})
    with pytest.raises(LeaseLost):
        await queue.fail(stale, "stale")
    assert await queue.renew([stale]) == {job.id: 0}
    await queue.complete(fresh, {"clip": "fresh"})
    assert (await queue.get(job.id)).result == {"clip": "fresh"}


async def test_heartbeat_keeps_the_lease(queue: JobQueue) -> None:
    await queue.enqueue(make_job())
    [lease] = await queue.claim("w1", [T2V])
    for _ in range(4):  # twice the lease length, renewed in time
        await asyncio.sleep(queue.settings.lease_seconds / 2)
        assert await queue.renew([lease]) == {lease.job_id: 1}
        assert (await queue.reap()).requeued == 0
    await queue.complete(lease, {})


async def test_job_fails_visibly_after_its_last_attempt(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job(max_attempts=2))).job
    for attempt in (1, 2):
        if attempt > 1:
            assert (await queue.reap()).requeued == 1
        [lease] = await queue.claim(f"doomed-{attempt}", [T2V])
        assert lease.job.attempts == attempt
        await asyncio.sleep(queue.settings.lease_seconds + 0.1)
    reaped = await queue.reap()
    assert (reaped.requeued, reaped.failed) == (0, 1)
    failed = await queue.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "stopped responding 2 time(s)" in failed.error
    types = [e.type for e in await events_of(queue, job.id)]
    assert types == ["running", "requeued", "running", "failed"]
    assert await queue.claim("w", [T2V]) == []


async def test_worker_failure_is_fenced_and_final(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    [lease] = await queue.claim("w1", [T2V])
    await queue.fail(lease, "CUDA out of memory: try a shorter clip")
    record = await queue.get(job.id)
    assert (record.status, record.error) == (JobStatus.FAILED, "CUDA out of memory: try a shorter clip")
    with pytest.raises(LeaseLost):
        await queue.complete(lease, {})


async def test_cancel_of_a_queued_job_removes_it_at_once(queue: JobQueue) -> None:
    keep = (await queue.enqueue(make_job(user="1"))).job
    drop = (await queue.enqueue(make_job(user="2"))).job
    assert await queue.cancel(drop.id) == "cancelled"
    assert (await queue.get(drop.id)).status is JobStatus.CANCELLED
    assert (await queue.depth())["all"] == 1
    assert [lease.job_id for lease in await queue.claim("w", [T2V], 5)] == [keep.id]
    assert await queue.cancel(drop.id) == "cancelled"  # already cancelled: reported, no change
    assert [e.type for e in await events_of(queue, drop.id)] == ["cancelled"]


async def test_cancel_of_a_running_job_sets_the_flag_the_worker_checks(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    [lease] = await queue.claim("w1", [T2V])
    assert not await queue.cancel_requested(lease)
    assert await queue.cancel(job.id) == "cancelling"
    assert await queue.cancel_requested(lease)
    assert await queue.progress(lease, 3, 50) == 2
    await queue.finish_cancelled(lease)
    assert (await queue.get(job.id)).status is JobStatus.CANCELLED
    types = [e.type for e in await events_of(queue, job.id)]
    assert types == ["running", "cancel_requested", "progress", "cancelled"]


async def test_cancel_of_finished_or_unknown_jobs(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    [lease] = await queue.claim("w1", [T2V])
    await queue.complete(lease, {})
    assert await queue.cancel(job.id) == "succeeded"
    with pytest.raises(JobNotFound):
        await queue.cancel("nosuchjob123")


async def test_a_dead_workers_cancelled_job_ends_cancelled(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    await queue.claim("w1", [T2V])
    await queue.cancel(job.id)
    await asyncio.sleep(queue.settings.lease_seconds + 0.1)
    assert (await queue.reap()).cancelled == 1
    assert (await queue.get(job.id)).status is JobStatus.CANCELLED


async def test_release_hands_the_job_back_without_counting_the_attempt(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    later = (await queue.enqueue(make_job())).job
    [lease] = await queue.claim("stopping", [T2V])
    assert await queue.release(lease, "the worker was stopped") == "queued"
    back = await queue.get(job.id)
    assert (back.status, back.attempts, back.worker_id) == (JobStatus.QUEUED, 0, None)
    # it keeps its place: the member's oldest job comes first again
    claimed = [lease.job_id for lease in await queue.claim("other", [T2V], 2)]
    assert claimed == [job.id, later.id]


async def test_queue_full_is_refused_clearly_and_keeps_what_was_queued(
    redis, settings: QueueSettings
) -> None:
    queue = JobQueue(redis, replace(settings, global_cap=3, guild_cap=2))
    kept = [(await queue.enqueue(make_job(guild="1"))).job.id for _ in range(2)]
    with pytest.raises(QueueFull, match=r"this server's queue already holds 2 .* limit is 2"):
        await queue.enqueue(make_job(guild="1"))
    kept.append((await queue.enqueue(make_job(guild="2"))).job.id)
    with pytest.raises(QueueFull, match=r"the queue already holds 3 .* limit is 3") as info:
        await queue.enqueue(make_job(guild="3"))
    assert (info.value.scope, info.value.depth, info.value.cap) == ("global", 3, 3)
    assert (await queue.depth())["all"] == 3
    claimed = {lease.job_id for lease in await queue.claim("w", [T2V], 10)}
    assert claimed == set(kept)


async def test_position_and_eta(queue: JobQueue) -> None:
    a = [(await queue.enqueue(make_job(guild="1", user="10"))).job for _ in range(3)]
    b = (await queue.enqueue(make_job(guild="2", user="20"))).job
    # fair order: a0, b, a1, a2
    assert (await queue.position(a[0].id)).ahead == 0  # type: ignore[union-attr]
    assert (await queue.position(b.id)).ahead == 1  # type: ignore[union-attr]
    assert (await queue.position(a[1].id)).ahead == 2  # type: ignore[union-attr]
    last = await queue.position(a[2].id)
    assert last is not None and (last.ahead, last.lane_depth) == (3, 4)
    assert last.eta is None and last.workers == 0  # nobody serves the lane yet
    await queue.register_worker("w1", [T2V], {})
    with_worker = await queue.position(a[2].id)
    assert with_worker is not None and with_worker.workers == 1 and with_worker.eta is not None
    [lease] = await queue.claim("w1", [T2V])
    assert lease.job_id == a[0].id
    assert await queue.position(a[0].id) is None  # running: no longer in the queue


async def test_position_matches_the_real_claim_order(queue: JobQueue) -> None:
    jobs = []
    for guild, user, count in [("1", "1", 5), ("1", "2", 2), ("2", "3", 3), ("3", "4", 1), ("2", "5", 2)]:
        jobs += [(await queue.enqueue(make_job(guild=guild, user=user))).job for _ in range(count)]
    # some history, so that passes differ between guilds and members
    for lease in await queue.claim("w", [T2V], 4):
        await queue.complete(lease, {})
    jobs += [(await queue.enqueue(make_job(guild="4", user="6"))).job for _ in range(2)]
    predicted = {}
    for job in jobs:
        position = await queue.position(job.id)
        if position is not None:
            predicted[job.id] = position.ahead
    order = [lease.job_id for lease in await queue.claim("w", [T2V], 100)]
    assert {job_id: order.index(job_id) for job_id in predicted} == predicted


async def test_depth_per_lane_and_guild(queue: JobQueue) -> None:
    for guild, model in [
        ("1", ModelId.COGVIDEOX_2B),
        ("1", ModelId.COGVIDEOX_5B_I2V),
        ("2", ModelId.COGVIDEOX_2B),
    ]:
        await queue.enqueue(make_job(guild=guild, model=model))
    assert await queue.depth() == {"all": 3, "guild:1": 2, "guild:2": 1}
    assert (await queue.lane_stats(I2V)).depth == 1
    assert await queue.guild_depth("1") == 2
    assert await queue.guild_depth("1", T2V) == 1
    assert (await queue.lane_stats(T2V)).depth == 2


async def test_malformed_record_is_a_contract_error_not_a_crash(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    good = (await queue.enqueue(make_job(user="2"))).job
    await queue.redis.hset(queue.keys.job(job.id), "v", "99")
    with pytest.raises(ContractError, match="contract version 99; this Reelbot reads version 1"):
        await queue.get(job.id)
    # a worker meets it in the queue: it fails that job and carries on with the next one
    claimed = await queue.claim("w", [T2V], 2)
    assert [lease.job_id for lease in claimed] == [good.id]
    assert await queue.redis.hget(queue.keys.job(job.id), "status") == "failed"
    await queue.redis.hset(queue.keys.job(good.id), "spec", "{not json")
    with pytest.raises(ContractError):
        await queue.get(good.id)


async def test_enqueue_rejects_a_job_that_is_not_fresh(queue: JobQueue) -> None:
    with pytest.raises(ContractError, match="fresh job"):
        await queue.enqueue(replace(make_job(), status=JobStatus.RUNNING))


async def test_a_paused_queue_starts_nothing_and_a_draining_one_still_does(queue: JobQueue) -> None:
    first = await queue.enqueue(make_job(user="1"))
    await queue.enqueue(make_job(user="2"))

    await queue.set_maintenance("paused", "driver upgrade", "op")
    paused = await queue.claim("w1", [ModelId.COGVIDEOX_2B.value])
    waiting = (await queue.get(first.job.id)).status
    await queue.set_maintenance("draining", "moving", "op")
    draining = await queue.claim("w1", [ModelId.COGVIDEOX_2B.value])
    await queue.set_maintenance(None)
    resumed = await queue.claim("w1", [ModelId.COGVIDEOX_2B.value])

    assert paused == [] and waiting is JobStatus.QUEUED
    assert len(draining) == 1 and len(resumed) == 1
    assert await queue.maintenance() == {}
    with pytest.raises(ValueError, match="paused or draining"):
        await queue.set_maintenance("closed")
