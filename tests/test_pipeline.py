"""The request pipeline and the access policy on a real Redis, without Discord: model choice,
idempotent queueing, refusals, who may act on a job, and the Redis round trips of one request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bench.round_trips import counting
from bot.access import AccessPolicy, JobAction
from bot.app import ReelBot
from bot.compose import compose
from bot.errors import NotAllowed, Refused
from bot.models import choose_model
from bot.requests import Member, Origin, Queued, VideoRequest
from bot.settings import BotSettings
from inference.contract import JobStatus, ModelId
from inference.jobqueue import JobQueue, QueueSettings
from inference.storage import RedisBlobStore

MEMBER = Member("10", "30")


@pytest.fixture
async def bot(queue: JobQueue, settings: QueueSettings) -> AsyncIterator[ReelBot]:
    """The composed bot, never connected: its pipeline and policy work on Redis alone."""
    store = RedisBlobStore.from_url(settings.redis_url, settings.keys, ttl_seconds=600)
    yield compose(BotSettings(), queue, store, models=[ModelId.COGVIDEOX_2B, ModelId.COGVIDEOX_5B_I2V])
    await store.aclose()


def request(n: int = 1, member: Member = MEMBER, **changes: object) -> VideoRequest:
    base = VideoRequest(f"interaction-{n}", Origin.VIDEO, member, "20", "a cat")
    return replace(base, **changes)  # type: ignore[arg-type]


async def serve(queue: JobQueue, *models: ModelId) -> None:
    await queue.register_worker("gpu-1", [m.value for m in models], {})


def test_the_model_follows_the_running_workers() -> None:
    defaults = [ModelId.COGVIDEOX_2B, ModelId.COGVIDEOX_5B_I2V]
    # nobody online: queue on the deployment's models, the job waits for a worker
    assert choose_model(None, False, [], defaults) == ModelId.COGVIDEOX_2B
    assert choose_model(None, True, [], defaults) == ModelId.COGVIDEOX_5B_I2V
    with pytest.raises(Refused, match="no image-to-video model set up"):
        choose_model(None, True, [], [ModelId.COGVIDEOX_5B])
    running = [ModelId.COGVIDEOX_5B, ModelId.COGVIDEOX_5B_I2V]
    assert choose_model(None, False, running, defaults) == ModelId.COGVIDEOX_5B
    assert choose_model(None, True, running, defaults) == ModelId.COGVIDEOX_5B_I2V
    with pytest.raises(
        Refused, match=r"No worker runs `cogvideox-2b` right now\. Running now: `cogvideox-5b`"
    ):
        choose_model("cogvideox-2b", False, running, defaults)
    with pytest.raises(Refused, match="animates an image: attach one"):
        choose_model("cogvideox-5b-i2v", False, running, defaults)
    with pytest.raises(Refused, match="no model called `sora`"):
        choose_model("sora", False, running, defaults)
    with pytest.raises(Refused, match="No image-to-video model is running right now"):
        choose_model(None, True, [ModelId.COGVIDEOX_2B], defaults)


async def test_the_snapshot_sees_the_running_workers(bot: ReelBot, queue: JobQueue) -> None:
    await serve(queue, ModelId.COGVIDEOX_5B)
    snap = await bot.parts.pipeline.snapshots.load("10", "30")
    assert snap.served == [ModelId.COGVIDEOX_5B]
    outcome = await bot.parts.pipeline.run(request())
    assert isinstance(outcome, Queued) and outcome.job.spec.model is ModelId.COGVIDEOX_5B
    assert outcome.position is not None and outcome.position.workers == 1 and outcome.position.eta


async def test_a_request_is_queued_once_per_interaction_with_its_stored_image(
    bot: ReelBot, queue: JobQueue
) -> None:
    stored = await bot.parts.store.put("inputs/original.png", b"\x89PNG kept as is", "image/png")
    pipeline = bot.parts.pipeline
    first = await pipeline.run(request(image_ref=stored.ref, approved_by="99"))
    again = await pipeline.run(request(image_ref=stored.ref, approved_by="99"))
    assert isinstance(first, Queued) and isinstance(again, Queued)
    assert not first.replayed and again.replayed and again.job.id == first.job.id
    assert first.job.spec.model is ModelId.COGVIDEOX_5B_I2V
    assert first.position is not None and first.position.ahead == 0
    assert await bot.parts.store.get(first.job.spec.image_ref or "") == b"\x89PNG kept as is"
    assert (await queue.lane_stats(ModelId.COGVIDEOX_5B_I2V.value)).depth == 1


async def test_bad_prompts_and_full_queues_are_refused_with_what_to_do(bot: ReelBot) -> None:
    pipeline = bot.parts.pipeline
    with pytest.raises(Refused, match="Your prompt is empty"):
        await pipeline.run(request(prompt="   "))
    await bot.parts.limits.change_limits("10", {"guild_queue": 1}, "admin")
    await pipeline.run(request(1))
    with pytest.raises(Refused, match=r"queue is full: 1 video waiting, and the limit is 1"):
        await pipeline.run(request(2, member=Member("10", "31")))


async def test_invisible_characters_are_taken_out_and_a_prompt_with_no_words_is_refused(bot: ReelBot) -> None:
    pipeline = bot.parts.pipeline
    queued = await pipeline.run(
        request(prompt="a\u200b red\ufe0f kite\u2800", negative="no\u200b blur\u200d")
    )
    assert isinstance(queued, Queued)
    assert (queued.job.spec.prompt, queued.job.spec.negative_prompt) == ("a red kite", "no blur")
    for prompt, said in (("\u200b\u200d\u2060\ufeff", "empty"), ("!!! 🎬🎬", "only symbols")):
        with pytest.raises(Refused, match=f"Your prompt is {said}.* once invisible characters are taken out"):
            await pipeline.run(request(2, prompt=prompt))


async def test_every_limit_refusal_says_when_even_with_no_worker_to_give_an_eta(bot: ReelBot) -> None:
    pipeline = bot.parts.pipeline
    await bot.parts.limits.change_limits("10", {"active": 1}, "admin")
    await pipeline.run(request(1))  # waits: no worker is online, so its place has no ETA
    for n in (2, 3):  # a third refusal in a row would start a cooldown, which says when too
        with pytest.raises(Refused, match=r"Try again when one finishes, expected <t:\d+:R>") as refused:
            await pipeline.run(request(n))
        assert "the limit on this server is 1" in str(refused.value)


async def test_who_may_act_on_a_job(bot: ReelBot, queue: JobQueue) -> None:
    access: AccessPolicy = bot.parts.access
    job = (await bot.parts.pipeline.run(request())).job  # type: ignore[union-attr]
    stranger, moderator = Member("10", "99"), Member("10", "98", manages_messages=True)
    elsewhere = Member("11", "30", manages_messages=True, manages_server=True)
    with pytest.raises(
        NotAllowed, match="Only the member who asked for this video, or a moderator, can cancel"
    ):
        await access.job(stranger, job.id, JobAction.CANCEL)
    assert (await access.job(stranger, job.id, JobAction.SEE)).id == job.id  # Re-roll, /job
    assert (await access.job(moderator, job.id, JobAction.DELETE)).id == job.id
    for who, job_id in ((elsewhere, job.id), (MEMBER, "nosuch1")):
        with pytest.raises(NotAllowed, match=f"I know no job `{job_id}` in this server"):
            await access.job(who, job_id, JobAction.SEE)
    # the guild's moderator role counts, as the member holds it now
    await bot.parts.moderation.settings.change("10", {"moderator_role": "555"})
    assert await access.is_moderator(Member("10", "97", role_ids=("555",)))
    assert not await access.is_moderator(Member("10", "97", role_ids=("556",)))
    assert (await queue.get(job.id)).status is JobStatus.QUEUED


async def test_member_jobs_lists_what_waits_and_what_renders(bot: ReelBot, queue: JobQueue) -> None:
    a = (await bot.parts.pipeline.run(request(1))).job  # type: ignore[union-attr]
    await queue.claim("gpu-1", [ModelId.COGVIDEOX_2B.value])
    listed = await bot.parts.jobs.member_jobs("10", "30")
    assert [(job.id, job.status) for job, _ in listed] == [(a.id, JobStatus.RUNNING)]
    assert await bot.parts.jobs.member_jobs("10", "31") == []


async def test_notes_are_recorded_once_where_asked(bot: ReelBot) -> None:
    jobs = bot.parts.jobs
    assert await jobs.record("abc123", only_if_new="status", status="1")
    assert not await jobs.record("abc123", only_if_new="status", status="2")
    await jobs.record("abc123", clip="3")
    notes = await jobs.notes("abc123")
    assert (notes.status_message, notes.clip_message) == ("1", "3")


async def test_a_text_request_takes_at_most_five_redis_round_trips(bot: ReelBot) -> None:
    pipeline = bot.parts.pipeline
    await pipeline.run(request(1))  # connections opened, scripts loaded
    with counting() as trips:
        outcome = await pipeline.run(request(2, member=Member("10", "31")))
    assert isinstance(outcome, Queued)
    # the snapshot, the enqueue (limits taken in it), the member's job list and the position;
    # the status message's id adds one more when it is posted (bench/bot.py counts the whole /video)
    sent = [c for c in trips.commands if c != "PING"]  # a connection's health check, at most every 15 s
    assert len(sent) <= 5, sent
