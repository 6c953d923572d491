"""The bot's service layer on a real Redis, without Discord: model choice, submit, cancel, /queue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.guildconfig import GuildLimits
from bot.limits import LimitsService, Requester
from bot.service import UserFacingError, VideoRequest, VideoService
from inference.contract import JobStatus, ModelId
from inference.jobqueue import JobQueue, QueueSettings
from inference.storage import RedisBlobStore


@pytest.fixture
async def service(queue: JobQueue, settings: QueueSettings) -> AsyncIterator[VideoService]:
    store = RedisBlobStore.from_url(settings.redis_url, settings.keys, ttl_seconds=600)
    yield VideoService(queue, store)
    await store.aclose()


def request(n: int = 1, **changes: object) -> VideoRequest:
    base = {
        "request_id": f"interaction-{n}",
        "guild_id": "10",
        "channel_id": "20",
        "user_id": "30",
        "prompt": "a cat",
    }
    return VideoRequest(**{**base, **changes})  # type: ignore[arg-type]


async def serve(queue: JobQueue, *models: ModelId) -> None:
    await queue.register_worker("gpu-1", [m.value for m in models], {})


async def test_the_model_follows_the_running_workers(service: VideoService, queue: JobQueue) -> None:
    # nobody online: queue on the deployment's models, the job waits for a worker
    assert await service.choose_model(None, with_image=False) == ModelId.COGVIDEOX_2B
    assert await service.choose_model(None, with_image=True) == ModelId.COGVIDEOX_5B_I2V
    service.default_models = [ModelId.COGVIDEOX_5B]
    assert await service.choose_model(None, with_image=False) == ModelId.COGVIDEOX_5B
    with pytest.raises(UserFacingError, match="no image-to-video model set up"):
        await service.choose_model(None, with_image=True)
    await serve(queue, ModelId.COGVIDEOX_5B, ModelId.COGVIDEOX_5B_I2V)
    assert await service.served_models() == [ModelId.COGVIDEOX_5B, ModelId.COGVIDEOX_5B_I2V]
    assert await service.choose_model(None, with_image=False) == ModelId.COGVIDEOX_5B
    assert await service.choose_model(None, with_image=True) == ModelId.COGVIDEOX_5B_I2V
    with pytest.raises(
        UserFacingError, match=r"No worker runs `cogvideox-2b` right now\. Running now: `cogvideox-5b`"
    ):
        await service.choose_model("cogvideox-2b", with_image=False)
    with pytest.raises(UserFacingError, match="animates an image: attach one"):
        await service.choose_model("cogvideox-5b-i2v", with_image=False)
    with pytest.raises(UserFacingError, match="no model called `sora`"):
        await service.choose_model("sora", with_image=False)


async def test_no_image_model_running_is_said_plainly(service: VideoService, queue: JobQueue) -> None:
    await serve(queue, ModelId.COGVIDEOX_2B)
    with pytest.raises(UserFacingError, match="No image-to-video model is running right now"):
        await service.choose_model(None, with_image=True)


async def test_submit_queues_once_per_interaction_and_stores_the_image(
    service: VideoService, queue: JobQueue
) -> None:
    first = await service.submit(request(image_png=b"\x89PNG fake but stored as is"))
    again = await service.submit(request(image_png=b"\x89PNG fake but stored as is"))
    assert not first.replayed and again.replayed and again.job.id == first.job.id
    assert first.job.spec.model == ModelId.COGVIDEOX_5B_I2V
    assert first.position is not None and first.position.ahead == 0
    assert await service.store.get(first.job.spec.image_ref or "") == b"\x89PNG fake but stored as is"
    assert (await queue.lane_stats(ModelId.COGVIDEOX_5B_I2V.value)).depth == 1


async def test_bad_prompts_and_full_queues_are_member_facing(service: VideoService, queue: JobQueue) -> None:
    with pytest.raises(UserFacingError, match="The prompt is empty"):
        await service.submit(request(prompt="   "))
    small = VideoService(queue, service.store, limits=LimitsService(queue, GuildLimits(guild_queue=1)))
    await small.submit(request(1))
    with pytest.raises(UserFacingError, match=r"queue is full: 1 video waiting, and the limit is 1"):
        await small.submit(request(2, user_id="31"))


async def test_cancel_is_for_the_requester_or_a_moderator(service: VideoService, queue: JobQueue) -> None:
    job = (await service.submit(request())).job
    with pytest.raises(UserFacingError, match="Only the member who asked"):
        await service.cancel(job.id, "99", moderator=False)
    assert await service.cancel(job.id, "99", moderator=True) == f"Cancelled `{job.id}`."
    assert (await queue.get(job.id)).status is JobStatus.CANCELLED
    with pytest.raises(UserFacingError, match="already cancelled"):
        await service.cancel(job.id, "30", moderator=False)
    with pytest.raises(UserFacingError, match="I know no job `nosuch1`"):
        await service.cancel("nosuch1", "30", moderator=False)


async def test_member_jobs_lists_what_waits_and_what_renders(service: VideoService, queue: JobQueue) -> None:
    a = (await service.submit(request(1))).job
    b = (await service.submit(request(2))).job
    c = (await service.submit(request(3, user_id="31"))).job  # someone else's
    await service.cancel(b.id, "30", moderator=False)
    [lease] = await queue.claim("gpu-1", [ModelId.COGVIDEOX_2B.value])
    assert lease.job_id == a.id
    listed = await service.member_jobs("10", "30")
    assert [(job.id, job.status) for job, _ in listed] == [(a.id, JobStatus.RUNNING)]
    theirs = await service.member_jobs("10", "31")
    assert [job.id for job, _ in theirs] == [c.id] and theirs[0][1] is not None


async def test_reroll_keeps_prompt_and_image_with_a_new_seed(service: VideoService) -> None:
    old = (await service.submit(request(seed=7, image_png=b"img"))).job
    new = (await service.reroll(old.id, "interaction-9", Requester("10", "77"))).job
    assert new.id != old.id and new.user_id == "77"
    assert (new.spec.prompt, new.spec.model, new.spec.image_ref) == (
        old.spec.prompt,
        old.spec.model,
        old.spec.image_ref,
    )
    assert new.spec.seed is not None  # chosen afresh (old.spec.seed was 7)
    remixed = (await service.reroll(old.id, "interaction-10", Requester("10", "77"), prompt="a dog")).job
    assert remixed.spec.prompt == "a dog"
    with pytest.raises(UserFacingError, match="no job"):
        await service.reroll(old.id, "interaction-11", Requester("11", "77"))  # another server's job


async def test_posts_are_recorded_once(service: VideoService) -> None:
    assert await service.record_post("abc123", "status", "1", only_if_new=True)
    assert not await service.record_post("abc123", "status", "2", only_if_new=True)
    await service.record_post("abc123", "clip", "3")
    assert await service.posts("abc123") == {"status": "1", "clip": "3"}
