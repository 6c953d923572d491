"""The event stream: a restarted consumer resumes where it stopped and skips nothing."""

from __future__ import annotations

from inference.contract import ModelId
from inference.jobqueue import EventConsumer, JobQueue
from tests.conftest import make_job

LANE = ModelId.COGVIDEOX_2B.value


async def run_jobs(queue: JobQueue, count: int) -> list[str]:
    ids = [(await queue.enqueue(make_job(user=str(i + 1)))).job.id for i in range(count)]
    for lease in await queue.claim("w", [LANE], count):
        await queue.complete(lease, {"clip": f"blob:{lease.job_id}"})
    return ids


def finished(deliveries) -> list[str]:
    return [d.event.job_id for d in deliveries if d.event and d.event.type == "succeeded"]


async def test_a_restarted_consumer_gets_back_what_it_had_not_acknowledged(queue: JobQueue) -> None:
    ids = await run_jobs(queue, 6)
    first = EventConsumer(queue.redis, queue.keys, "bot", "bot-1", batch=4)
    await first.ensure_group()
    batch = await first.read(block_seconds=0.1)
    await first.ack([d.id for d in batch[:2]])  # handled two, then crashed
    restarted = EventConsumer(queue.redis, queue.keys, "bot", "bot-1", batch=100)
    seen = []
    while deliveries := await restarted.read(block_seconds=0.1):
        seen += deliveries
        await restarted.ack([d.id for d in deliveries])
    assert [d.id for d in seen[:2]] == [d.id for d in batch[2:]]  # the unacknowledged come first
    assert sorted(finished(batch[:2] + seen)) == sorted(ids)
    assert len({d.id for d in batch[:2] + seen}) == len(batch[:2] + seen)  # nothing twice once acked


async def test_events_written_while_no_consumer_ran_are_not_skipped(queue: JobQueue) -> None:
    consumer = EventConsumer(queue.redis, queue.keys, "bot", "bot-1")
    ids = await run_jobs(queue, 3)  # the bot was down: the group does not exist yet
    await consumer.ensure_group()
    got = await consumer.read(block_seconds=0.1)
    assert sorted(finished(got)) == sorted(ids)


async def test_events_left_by_a_consumer_that_never_returns_are_taken_over(queue: JobQueue) -> None:
    ids = await run_jobs(queue, 3)
    gone = EventConsumer(queue.redis, queue.keys, "bot", "bot-old")
    await gone.ensure_group()
    await gone.read(block_seconds=0.1)  # read, never acknowledged, never back
    heir = EventConsumer(queue.redis, queue.keys, "bot", "bot-new", claim_idle_seconds=0)
    taken = await heir.read(block_seconds=0.1)
    assert sorted(finished(taken)) == sorted(ids)


async def test_an_unreadable_event_is_reported_not_raised(queue: JobQueue) -> None:
    await queue.redis.xadd(queue.keys.events(), {"v": "9", "type": "succeeded"})
    consumer = EventConsumer(queue.redis, queue.keys, "bot", "bot-1")
    await consumer.ensure_group()
    [delivery] = await consumer.read(block_seconds=0.1)
    assert delivery.event is None
    assert delivery.error is not None and "contract version 9" in str(delivery.error)


async def test_progress_events_carry_step_and_total(queue: JobQueue) -> None:
    await queue.enqueue(make_job())
    [lease] = await queue.claim("w", [LANE])
    assert await queue.progress(lease, 10, 50) == 1
    consumer = EventConsumer(queue.redis, queue.keys, "bot", "bot-1")
    await consumer.ensure_group()
    events = [d.event for d in await consumer.read(block_seconds=0.1) if d.event]
    assert [(e.type, e.data) for e in events] == [
        ("running", {"worker": "w"}),
        ("progress", {"step": 10, "total": 50}),
    ]
