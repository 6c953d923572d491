"""The GPU daemon end to end on a real Redis, with tiny pipelines loaded from disk.

Each test queues real jobs, runs the daemon (in-process, or as ``python -m inference``
for signals) and checks what a member would see: the job's outcome, its message, the
MP4 it produced, and the progress events the bot will read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import torch
from PIL import Image
from redis.asyncio import Redis

from inference.contract import EventType, GenerationSpec, JobEvent, JobRecord, JobStatus, ModelId
from inference.daemon import EXIT_STUCK, Daemon
from inference.generator import Generator, Rendered, StepHook
from inference.images import encode_png
from inference.jobqueue import EventConsumer, JobQueue, QueueSettings
from inference.jobqueue.localredis import free_port
from inference.pipelines import LoadedModel, load_models
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from inference.video import probe_mp4
from tests.conftest import make_job


@pytest.fixture(scope="module")
def models(tiny_dirs: dict[str, Path]) -> dict[ModelId, LoadedModel]:
    return load_models(WorkerSettings(models=(str(tiny_dirs["5b"]), str(tiny_dirs["i2v"]))))


@pytest.fixture
async def store(settings: QueueSettings, redis: Redis) -> AsyncIterator[RedisBlobStore]:
    blobs = RedisBlobStore.from_url(settings.redis_url, settings.keys, ttl_seconds=600)
    yield blobs
    await blobs.aclose()


def worker_settings(**changes: Any) -> WorkerSettings:
    base = WorkerSettings(metrics_port=0, progress_interval=0, job_timeout_seconds=60, stuck_seconds=2)
    return dataclasses.replace(base, **changes)


def job(prompt: str = "a bee on a flower", model: ModelId = ModelId.COGVIDEOX_5B, **spec: Any) -> JobRecord:
    record = make_job(model=model)
    return dataclasses.replace(record, spec=GenerationSpec(prompt=prompt, model=model, **spec))


async def events_of(redis: Redis, settings: QueueSettings, job_id: str) -> list[JobEvent]:
    consumer = EventConsumer(redis, settings.keys, f"test-{job_id}", "t")
    await consumer.ensure_group()
    found: list[JobEvent] = []
    while batch := await consumer.read(block_seconds=0.1):
        found += [d.event for d in batch if d.event is not None and d.event.job_id == job_id]
        await consumer.ack([d.id for d in batch])
    return found


def steady(queue: JobQueue) -> JobQueue:
    """The same queue with a lease that outlasts a loaded machine's pauses: the suite's 1 s lease
    (short for crash drills) expired under two busy-loop processes, and the job ran twice."""
    return JobQueue(
        queue.redis, dataclasses.replace(queue.settings, lease_seconds=60.0, heartbeat_seconds=1.0)
    )


async def serve(queue: JobQueue, store: RedisBlobStore, renderer: Any, **changes: Any) -> int:
    daemon = Daemon(steady(queue), store, renderer, worker_settings(**changes))
    return await asyncio.wait_for(daemon.run(burst=True), timeout=120)


class Scripted:
    """The real generator, except for prompts that ask it to misbehave."""

    def __init__(self, real: Generator, behaviours: Mapping[str, Callable[[StepHook], Rendered]]) -> None:
        self.real, self.behaviours = real, behaviours

    @property
    def models(self) -> Mapping[ModelId, Any]:
        return self.real.models

    def render(self, spec: GenerationSpec, image: Image.Image | None, on_step: StepHook) -> Rendered:
        if spec.prompt in self.behaviours:
            return self.behaviours[spec.prompt](on_step)
        return self.real.render(spec, image, on_step)


async def test_text_and_image_jobs_become_playable_clips(
    queue: JobQueue, store: RedisBlobStore, redis: Redis, settings: QueueSettings, models: Any
) -> None:
    png = encode_png(Image.new("RGB", (640, 360), "orange"))
    image_ref = (await store.put("inputs/test.png", png, "image/png")).ref
    t2v = await queue.enqueue(job(seed=5))
    i2v = await queue.enqueue(job("the cat wakes", ModelId.COGVIDEOX_5B_I2V, image_ref=image_ref))

    assert await serve(queue, store, Generator(models)) == 0

    for enqueued, model in ((t2v, ModelId.COGVIDEOX_5B), (i2v, ModelId.COGVIDEOX_5B_I2V)):
        done = await queue.get(enqueued.job.id)
        assert done.status is JobStatus.SUCCEEDED, done.error
        clip = done.clip()  # the typed result the bot reads
        assert clip is not None
        info = probe_mp4(await store.get(clip.clip_ref))
        assert (info.frames, info.width, info.height, info.fps) == (9, 96, 64, 8.0)
        assert (info.codec, info.pix_fmt, info.faststart) == ("h264", "yuv420p", True)
        assert info.metadata["reelbot_job_id"] == done.id
        assert info.metadata["reelbot_model"] == model.value
        assert info.metadata["reelbot_seed"] == str(clip.seed)
        assert (clip.size, clip.clip_url, clip.frames, clip.fps) == (info.size_bytes, None, 9, 8.0)
    assert (await queue.get(t2v.job.id)).clip().seed == 5  # type: ignore[union-attr]


async def test_progress_events_arrive_in_order(
    queue: JobQueue, store: RedisBlobStore, redis: Redis, settings: QueueSettings, models: Any
) -> None:
    enqueued = await queue.enqueue(job(steps=6))
    assert await serve(queue, store, Generator(models)) == 0
    events = await events_of(redis, settings, enqueued.job.id)
    kinds = [e.type for e in events]
    assert kinds[0] is EventType.RUNNING and kinds[-1] is EventType.SUCCEEDED
    steps = [(e.data["step"], e.data["total"]) for e in events if e.type is EventType.PROGRESS]
    assert steps == [(s, 6) for s in range(1, 7)]


async def test_a_long_prompt_is_shortened_and_the_record_says_so(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    long_prompt = " ".join(["a slow bee on a red flower in the rain"] * 12)
    enqueued = await queue.enqueue(job(long_prompt))
    await serve(queue, store, Generator(models))
    result = (await queue.get(enqueued.job.id)).result
    assert result is not None and result["prompt_shortened"] is True
    assert long_prompt.startswith(result["prompt"]) and len(result["prompt"]) < len(long_prompt)


async def test_cancel_mid_render_stops_within_a_step(
    queue: JobQueue, store: RedisBlobStore, redis: Redis, settings: QueueSettings, models: Any
) -> None:
    seen: list[int] = []
    real = Generator(models)

    def slow(spec: GenerationSpec, image: Any, on_step: StepHook) -> Rendered:
        def paced(step: int, total: int) -> None:
            seen.append(step)
            time.sleep(0.1)
            on_step(step, total)

        return real.render(spec, image, paced)

    renderer = Scripted(real, {})
    renderer.render = slow  # type: ignore[method-assign]
    enqueued = await queue.enqueue(job(steps=100))
    running = asyncio.create_task(serve(queue, store, renderer))
    while len(seen) < 3:
        await asyncio.sleep(0.05)
    cancelled_at = len(seen)
    await queue.cancel(enqueued.job.id)
    assert await running == 0
    final = await queue.get(enqueued.job.id)
    assert final.status is JobStatus.CANCELLED
    assert len(seen) <= cancelled_at + 2  # the step in flight, and the one that noticed
    assert final.result is None


async def test_out_of_memory_fails_the_job_and_the_daemon_goes_on(
    queue: JobQueue, store: RedisBlobStore, models: dict[ModelId, LoadedModel]
) -> None:
    class OomOnce:
        def __init__(self, pipe: Any) -> None:
            self.pipe, self.calls = pipe, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.pipe, name)

        def __call__(self, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return self.pipe(**kwargs)

    loaded = models[ModelId.COGVIDEOX_5B]
    flaky = {ModelId.COGVIDEOX_5B: LoadedModel(loaded.source, OomOnce(loaded.pipe), "cpu", loaded.recipe)}
    first = await queue.enqueue(job("first"))
    second = await queue.enqueue(job("second"))

    assert await serve(queue, store, Generator(flaky)) == 0

    # whichever job the worker claimed first ran out of memory; the other one ran
    records = [await queue.get(first.job.id), await queue.get(second.job.id)]
    assert sorted(r.status.value for r in records) == ["failed", "succeeded"]
    failed = next(r for r in records if r.status is JobStatus.FAILED)
    assert "ran out of memory" in (failed.error or "") and "REELBOT_OFFLOAD=model" in (failed.error or "")
    assert failed.attempts == 1  # not retried: the same job would run out again


async def test_a_job_over_its_time_limit_fails_and_the_next_one_runs(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    def hang(on_step: StepHook) -> Rendered:
        step = 0
        while True:  # a render that never converges but still calls its step hook
            step += 1
            time.sleep(0.05)
            on_step(min(step, 49), 50)

    # the job after it renders in no time, whatever the machine's load: the real render is
    # made beforehand, so only the hanging one can meet the 1 s limit
    generator = Generator(models)
    ready = await asyncio.to_thread(generator.render, job("fine").spec, None, lambda step, total: None)

    def fine_render(on_step: StepHook) -> Rendered:
        on_step(ready.steps, ready.steps)
        return ready

    slow = await queue.enqueue(job("hang"))
    await asyncio.sleep(0.01)
    fine = await queue.enqueue(job("fine"))
    started = time.monotonic()
    # the output filter is not what this tests, and its ~0.5 s would eat into the 1 s limit
    runner = Scripted(generator, {"hang": hang, "fine": fine_render})
    assert await serve(queue, store, runner, job_timeout_seconds=1, output_filter=False) == 0
    assert time.monotonic() - started < 30
    failed = await queue.get(slow.job.id)
    assert failed.status is JobStatus.FAILED and "longer than the 1 s limit" in (failed.error or "")
    assert (await queue.get(fine.job.id)).status is JobStatus.SUCCEEDED


async def test_a_render_thread_that_ignores_stop_makes_the_daemon_exit_for_restart(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    release = threading.Event()

    def freeze(on_step: StepHook) -> Rendered:
        release.wait(60)  # stuck inside a GPU call: no step hook ever runs again
        raise RuntimeError("released")

    frozen = await queue.enqueue(job("freeze"))
    await asyncio.sleep(0.01)
    waiting = await queue.enqueue(job("fine"))
    daemon = Daemon(
        steady(queue),
        store,
        Scripted(Generator(models), {"freeze": freeze}),
        worker_settings(job_timeout_seconds=0.5, stuck_seconds=0.5),
    )
    try:
        assert await asyncio.wait_for(daemon.run(), timeout=30) == EXIT_STUCK
        healthy, report = daemon.health.report()
        assert not healthy and "did not stop" in report["problems"][0]
        assert (await queue.get(frozen.job.id)).status is JobStatus.FAILED
        assert (await queue.get(waiting.job.id)).status is JobStatus.QUEUED  # left for a healthy worker
    finally:
        release.set()


async def test_bad_input_images_fail_with_a_clear_message(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    corrupt_ref = (await store.put("inputs/corrupt.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")).ref
    expired_ref = corrupt_ref.replace("corrupt", "gone")
    corrupt = await queue.enqueue(job("x", ModelId.COGVIDEOX_5B_I2V, image_ref=corrupt_ref))
    expired = await queue.enqueue(job("y", ModelId.COGVIDEOX_5B_I2V, image_ref=expired_ref))
    assert await serve(queue, store, Generator(models)) == 0
    bad = await queue.get(corrupt.job.id)
    assert bad.status is JobStatus.FAILED and "could not be used" in (bad.error or "")
    assert "PNG, JPEG or WEBP" in (bad.error or "")
    gone = await queue.get(expired.job.id)
    assert gone.status is JobStatus.FAILED and "expired" in (gone.error or "")


async def test_health_and_metrics_endpoints(queue: JobQueue, store: RedisBlobStore, models: Any) -> None:
    port = free_port()
    daemon = Daemon(steady(queue), store, Generator(models), worker_settings(metrics_port=port))
    running = asyncio.create_task(daemon.run())
    enqueued = await queue.enqueue(job(steps=3))
    while (await queue.get(enqueued.job.id)).status is not JobStatus.SUCCEEDED:
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
            assert reply.status == 200
            health = await reply.json()
        # the worker counts a job just after it records the result, so wait for the count
        succeeded = 'reelbot_worker_jobs_total{model="cogvideox-5b",outcome="succeeded"} 1.0'
        for _ in range(100):
            async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
                metrics = await reply.text()
            if succeeded in metrics:
                break
            await asyncio.sleep(0.05)
        daemon.stop()
        async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
            assert reply.status == 503 and "stopping" in (await reply.json())["problems"]
    assert await asyncio.wait_for(running, 30) == 0
    assert health["models"] == ["cogvideox-5b", "cogvideox-5b-i2v"] and health["status"] == "ok"
    assert succeeded in metrics
    assert 'reelbot_worker_queue_wait_seconds_count{model="cogvideox-5b"} 1.0' in metrics
    assert 'reelbot_worker_job_seconds_count{model="cogvideox-5b"} 1.0' in metrics
    rate = next(line for line in metrics.splitlines() if line.startswith("reelbot_worker_steps_per_second{"))
    assert float(rate.split()[-1]) > 0
