"""Member limits, enforced by the queue in the same atomic step that admits a job."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from inference.contract import JobStatus
from inference.jobqueue import JobQueue, Limit, LimitReached, Limits, Need, QueueFull
from inference.jobqueue.admission import DAY_SECONDS
from tests.conftest import make_job

LANE = "cogvideox-2b"
#: only the limit under test is on
OFF = Limits(rate=0, active=0, member_daily=0, guild_daily=0, guild_queue=0, strikes=0)


async def submit_many(queue: JobQueue, n: int, limits: Limits, guild: str = "1", user: str = "7"):
    """``n`` concurrent enqueues from one member: (admitted jobs, refusals)."""
    results = await asyncio.gather(
        *(queue.enqueue(make_job(guild=guild, user=user), limits) for _ in range(n)), return_exceptions=True
    )
    admitted = [r.job for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, LimitReached) for r in refused), refused
    return admitted, refused


async def test_100_concurrent_requests_admit_exactly_the_active_cap(queue: JobQueue) -> None:
    admitted, refused = await submit_many(queue, 100, replace(OFF, active=2, strikes=3))
    assert len(admitted) == 2
    assert len(refused) == 98
    first = refused[0]
    assert (first.limit, first.used, first.cap) == (Limit.ACTIVE, 2, 2)
    # repeated refusals turn into a cooldown that keeps lengthening, to its cap
    assert {r.limit for r in refused} == {Limit.ACTIVE, Limit.COOLDOWN}
    assert refused[-1].limit == Limit.COOLDOWN
    assert refused[-1].retry_at is not None and refused[-1].retry_at - time.time() > 3000
    # the two admitted jobs are untouched and claimable
    assert (await queue.depth())["all"] == 2
    assert sorted(lease.job_id for lease in await queue.claim("w", [LANE], 5)) == sorted(
        j.id for j in admitted
    )


async def test_100_concurrent_requests_admit_exactly_the_rate(queue: JobQueue) -> None:
    started = time.time()
    admitted, refused = await submit_many(queue, 100, replace(OFF, rate=5, rate_period=3600))
    assert len(admitted) == 5
    rate = [r for r in refused if r.limit == Limit.RATE]
    assert len(rate) == 95
    # GCRA: after a burst of 5, the next slot opens one interval (720 s) after the first
    assert rate[0].retry_at == pytest.approx(started + 720, abs=5)
    assert (rate[0].used, rate[0].cap) == (5, 5)


async def test_a_freed_slot_admits_again_and_the_rate_slot_is_not_refunded(queue: JobQueue) -> None:
    limits = replace(OFF, active=1, rate=2, rate_period=3600)
    first = (await queue.enqueue(make_job(user="7"), limits)).job
    with pytest.raises(LimitReached) as info:
        await queue.enqueue(make_job(user="7"), limits)
    assert info.value.limit == Limit.ACTIVE
    assert await queue.cancel(first.id) == "cancelled"
    await queue.enqueue(make_job(user="7"), limits)  # the active slot came back
    allowance = await queue.allowance("100", "7", limits)
    assert (allowance.rate_used, allowance.active) == (2, 1)


async def test_refusal_leaves_other_jobs_and_members_alone(queue: JobQueue) -> None:
    limits = replace(OFF, active=1)
    mine = (await queue.enqueue(make_job(user="7"), limits)).job
    with pytest.raises(LimitReached):
        await queue.enqueue(make_job(user="7"), limits)
    other = (await queue.enqueue(make_job(user="8"), limits)).job
    assert (await queue.get(mine.id)).status is JobStatus.QUEUED
    assert {lease.job_id for lease in await queue.claim("w", [LANE], 5)} == {mine.id, other.id}


async def test_guild_daily_quota_is_held_then_charged_on_delivery(queue: JobQueue) -> None:
    limits = replace(OFF, guild_daily=2)
    jobs = [(await queue.enqueue(make_job(user=str(u)), limits)).job for u in (1, 2)]
    with pytest.raises(LimitReached) as info:
        await queue.enqueue(make_job(user="3"), limits)
    refusal = info.value
    assert (refusal.limit, refusal.used, refusal.cap) == (Limit.GUILD_DAILY, 2, 2)
    assert refusal.retry_at == (int(time.time()) // DAY_SECONDS + 1) * DAY_SECONDS
    for lease in await queue.claim("w", [LANE], 2):
        await queue.complete(lease, {"clip_ref": "x"})
    assert await queue.settle(jobs[0].id, delivered=True) == "charged"
    assert await queue.settle(jobs[0].id, delivered=True) == "already"  # a retried delivery
    assert await queue.settle(jobs[1].id, delivered=False) == "refunded"  # could not be posted
    allowance = await queue.allowance("100", "3", limits)
    assert allowance.guild_today == 1
    await queue.enqueue(make_job(user="3"), limits)


async def test_every_failure_path_refunds_the_quota(queue: JobQueue) -> None:
    limits = replace(OFF, guild_daily=10, member_daily=10)

    async def held() -> tuple[int, int]:
        allowance = await queue.allowance("100", "7", limits)
        return allowance.guild_today, allowance.member_today

    async def admit(max_attempts: int = 3):
        return (await queue.enqueue(make_job(user="7", max_attempts=max_attempts), limits)).job

    # cancelled while queued
    job = await admit()
    assert await held() == (1, 1)
    await queue.cancel(job.id)
    assert await held() == (0, 0)
    # failed by the worker (an error, a timeout, or the output filter's block)
    await admit()
    [lease] = await queue.claim("w", [LANE])
    await queue.fail(lease, "render failed")
    assert await held() == (0, 0)
    # cancelled while running: the worker stops
    job = await admit()
    [lease] = await queue.claim("w", [LANE])
    await queue.cancel(job.id)
    await queue.finish_cancelled(lease)
    assert await held() == (0, 0)
    # the worker died on its last attempt: the reaper fails the job
    await admit(max_attempts=1)
    await queue.claim("w", [LANE])
    await asyncio.sleep(queue.settings.lease_seconds + 0.2)
    assert (await queue.reap()).failed == 1
    assert await held() == (0, 0)
    # handed back by a stopping worker: still in flight, still held
    job = await admit()
    [lease] = await queue.claim("w", [LANE])
    await queue.release(lease, "worker stopping")
    assert await held() == (1, 1)
    assert (await queue.allowance("100", "7", limits)).active == 1


async def test_member_daily_quota(queue: JobQueue) -> None:
    limits = replace(OFF, member_daily=1, guild_daily=5)
    await queue.enqueue(make_job(user="7"), limits)
    with pytest.raises(LimitReached) as info:
        await queue.enqueue(make_job(user="7"), limits)
    assert (info.value.limit, info.value.used, info.value.cap) == (Limit.MEMBER_DAILY, 1, 1)
    await queue.enqueue(make_job(user="8"), limits)  # another member's allowance is their own


async def test_exempt_members_skip_member_limits_but_not_the_queue_caps(queue: JobQueue) -> None:
    strict = replace(OFF, active=1, rate=1, guild_daily=1, guild_queue=4)
    exempt = replace(strict, exempt=True)
    for _ in range(4):
        await queue.enqueue(make_job(user="7"), exempt)
    with pytest.raises(QueueFull) as info:
        await queue.enqueue(make_job(user="7"), exempt)
    assert (info.value.limit, info.value.used, info.value.cap) == ("guild_queue", 4, 4)
    # the exempt jobs took no quota and no active slot
    allowance = await queue.allowance("100", "7", strict)
    assert (allowance.guild_today, allowance.active, allowance.rate_used) == (0, 0, 0)


async def test_blocked_member_is_refused_with_the_reason(queue: JobQueue) -> None:
    await queue.redis.hset(queue.keys.blocked("100"), "7", "spamming the queue")
    for limits in (OFF, replace(OFF, exempt=True), None):
        with pytest.raises(LimitReached) as info:
            await queue.enqueue(make_job(user="7"), limits)
        assert (info.value.limit, info.value.detail) == (Limit.BLOCKED, "spamming the queue")
    await queue.enqueue(make_job(user="8"), OFF)


async def test_check_judges_without_taking_and_counts_strikes(queue: JobQueue) -> None:
    limits = replace(OFF, active=1, strikes=2, cooldown=30)
    await queue.check("100", "7", limits)
    await queue.check("100", "7", limits)  # nothing was taken
    await queue.enqueue(make_job(user="7"), limits)
    with pytest.raises(LimitReached) as info:
        await queue.check("100", "7", limits)
    assert info.value.limit == Limit.ACTIVE and info.value.cooldown_until is None
    with pytest.raises(LimitReached) as info:
        await queue.check("100", "7", limits)
    assert info.value.cooldown_until == pytest.approx(time.time() + 30, abs=2)
    # allowance only reads: asking does not lengthen the cooldown
    before = (await queue.allowance("100", "7", limits)).cooldown_until
    assert (await queue.allowance("100", "7", limits)).cooldown_until == before


async def test_cooldown_doubles_and_is_capped(queue: JobQueue) -> None:
    limits = replace(OFF, active=1, strikes=1, cooldown=10, cooldown_max=35)
    await queue.enqueue(make_job(user="7"), limits)
    lengths = []
    for _ in range(4):
        with pytest.raises(LimitReached) as info:
            await queue.enqueue(make_job(user="7"), limits)
        if info.value.cooldown_until is not None:
            lengths.append(round(info.value.cooldown_until - time.time()))
    assert lengths == [10, 20, 35, 35]  # doubled, then capped (each refusal restarts the cap)


async def test_queue_caps_without_member_limits_are_unchanged(queue: JobQueue) -> None:
    limited = JobQueue(queue.redis, replace(queue.settings, guild_cap=1))
    await limited.enqueue(make_job())
    with pytest.raises(QueueFull, match="this server's queue already holds 1"):
        await limited.enqueue(make_job())


async def test_allowance_reports_the_numbers_members_see(queue: JobQueue) -> None:
    limits = replace(OFF, rate=4, rate_period=3600, active=3, guild_daily=10, member_daily=5)
    for _ in range(2):
        await queue.enqueue(make_job(user="7"), limits)
    allowance = await queue.allowance("100", "7", limits)
    assert allowance.active == 2
    assert allowance.rate_used == 2
    assert allowance.rate_next_at is None  # two of four left: allowed now
    assert (allowance.guild_today, allowance.member_today, allowance.guild_waiting) == (2, 2, 2)
    assert allowance.blocked_reason is None and allowance.cooldown_until is None


async def test_limit_keys_are_named_by_the_contract_and_expire(queue: JobQueue) -> None:
    from tests.test_worker import key_patterns

    limits = replace(OFF, rate=5, active=2, member_daily=3, guild_daily=9, strikes=1)
    job = (await queue.enqueue(make_job(user="7"), limits)).job
    await queue.enqueue(make_job(user="7"), limits)
    with pytest.raises(LimitReached):
        await queue.enqueue(make_job(user="7"), limits)  # a strike
    for lease in await queue.claim("w", [LANE], 2):
        await queue.complete(lease, {"clip_ref": "x"})
    await queue.settle(job.id, delivered=True)
    keys = [key async for key in queue.redis.scan_iter(f"{queue.keys.prefix}*")]
    patterns = key_patterns(queue.keys)
    assert [key for key in keys if not any(p.match(key) for p in patterns)] == []
    assert queue.keys.member_active("100", "7") not in keys  # empty once both jobs ended
    for key in (
        queue.keys.member_limits("100", "7"),
        queue.keys.quota("100", int(time.time()) // DAY_SECONDS),
    ):
        assert 0 < await queue.redis.ttl(key) <= 2 * DAY_SECONDS


async def test_concurrent_checks_share_calls_but_each_gets_its_own_verdict(queue: JobQueue) -> None:
    limits = replace(OFF, active=1)
    full = [str(u) for u in range(0, 100, 2)]  # every other member already has a job waiting
    for user in full:
        await queue.enqueue(make_job(user=user), limits)
    outcomes = await asyncio.gather(
        *(queue.check("100", str(u), limits) for u in range(100)), return_exceptions=True
    )
    refused = {str(u) for u, o in enumerate(outcomes) if isinstance(o, LimitReached)}
    assert refused == set(full)
    assert all(o is None for o in outcomes if not isinstance(o, LimitReached))


# ------------------------------------------------ several takes, longer clips (Need)


async def test_takes_are_judged_together_on_the_active_limit(queue: JobQueue) -> None:
    limits = replace(OFF, active=3)
    with pytest.raises(LimitReached) as refused:
        await queue.enqueue(make_job(), limits, Need(clips=4, jobs=4))
    assert (refused.value.limit, refused.value.used, refused.value.cap) == (Limit.ACTIVE, 0, 3)
    assert (await queue.depth()).get("all", 0) == 0  # nothing was taken
    first = await queue.enqueue(make_job(), limits, Need(clips=3, jobs=3))
    # the later takes of the request find the room the first one was judged with
    await queue.enqueue(make_job(), limits, Need(clips=2, jobs=2))
    await queue.enqueue(make_job(), limits)
    assert not first.replayed
    with pytest.raises(LimitReached):
        await queue.enqueue(make_job(), limits)


async def test_takes_need_that_many_rate_slots(queue: JobQueue) -> None:
    limits = replace(OFF, rate=5, rate_period=3600)
    await queue.enqueue(make_job(), limits, Need(clips=2, jobs=2, cost=1))
    await queue.enqueue(make_job(), limits)
    started = time.time()
    with pytest.raises(LimitReached) as refused:  # two takes used 2 of 5 an hour: 4 more do not fit
        await queue.enqueue(make_job(), limits, Need(clips=4, jobs=4))
    assert refused.value.limit == Limit.RATE
    # slots open one interval (720 s) apart: one more is needed beyond the three still free
    assert refused.value.retry_at == pytest.approx(started + 720, abs=5)
    await queue.enqueue(make_job(), limits, Need(clips=3, jobs=3))


async def test_a_long_clip_counts_twice_in_the_daily_quota_and_is_refunded_twice(queue: JobQueue) -> None:
    limits = replace(OFF, member_daily=3)
    long = await queue.enqueue(make_job(), limits, Need(clips=2, cost=2))
    with pytest.raises(LimitReached) as refused:
        await queue.enqueue(make_job(), limits, Need(clips=2, cost=2))
    assert (refused.value.limit, refused.value.used, refused.value.cap) == (Limit.MEMBER_DAILY, 2, 3)
    assert await queue.cancel(long.job.id) == "cancelled"
    again = await queue.enqueue(make_job(), limits, Need(clips=2, cost=2))
    allowance = await queue.allowance(again.job.guild_id, again.job.user_id, limits)
    assert allowance.member_today == 2
    # charged on delivery: still two
    lease = (await queue.claim("w", [LANE], 1))[0]
    await queue.complete(lease, {"clip_ref": "x"})
    assert await queue.settle(again.job.id, delivered=True) == "charged"
    allowance = await queue.allowance(again.job.guild_id, again.job.user_id, limits)
    assert allowance.member_today == 2
