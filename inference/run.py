"""Starting the daemon from settings, and ``reelbot generate``: one clip through the same path.

``generate`` is how an admin checks a GPU box before connecting Discord: it queues one
job in a private namespace, serves it with a burst-mode worker built exactly like the
daemon's, and writes the MP4 it stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from redis.asyncio import Redis

from inference.contract import EventType, GenerationSpec, JobRecord, JobStatus, ModelId
from inference.daemon import Daemon, load_output_filter
from inference.generator import Generator
from inference.images import decode_to_frame, encode_png
from inference.jobqueue import JobQueue, QueueSettings, check_server, connect, new_job_id
from inference.jobqueue.events import EventConsumer
from inference.jobqueue.localredis import RedisServer, free_port, ping
from inference.pipelines import load_models, pick_device
from inference.recipes import recipe_for
from inference.settings import WorkerSettings
from inference.storage import BlobStore, store_for

log = logging.getLogger(__name__)


async def run_worker(settings: WorkerSettings, queue_settings: QueueSettings) -> int:
    """Load the models, then serve jobs until SIGINT/SIGTERM; returns the exit code.

    Raises:
        ModelLoadError: a model or the output filter's classifier could not be loaded (nothing was
            claimed).
    """
    # the classifier first: it loads in a second, the models may take minutes to fail after it
    classifier = await asyncio.to_thread(load_output_filter, settings)
    models = await asyncio.to_thread(load_models, settings)
    generator = Generator(models)
    await asyncio.to_thread(generator.warm_up)
    device = pick_device(settings.device)
    async with connect(queue_settings.redis_url) as redis:
        for warning in await check_server(redis):
            log.warning("%s", warning)
        store = store_for(settings, queue_settings)
        try:
            daemon = Daemon(
                JobQueue(redis, queue_settings),
                store,
                generator,
                settings,
                device=device,
                classifier=classifier,
            )
            daemon.install_signal_handlers()
            return await daemon.run()
        finally:
            await store.aclose()


async def generate(
    prompt: str,
    out: Path,
    settings: WorkerSettings,
    queue_settings: QueueSettings,
    *,
    image: Path | None = None,
    seed: int | None = None,
    redis_was_configured: bool = True,
) -> int:
    """Render one clip through the queue and the worker, and write it to ``out``."""
    classifier = await asyncio.to_thread(load_output_filter, settings)
    models = await asyncio.to_thread(load_models, settings)
    generator = Generator(models)
    await asyncio.to_thread(generator.warm_up)
    model = _pick_model(list(models), image is not None)
    async with _redis(queue_settings.redis_url, redis_was_configured) as url:
        # a private namespace: the burst worker serves this job and nothing else
        qs = replace(
            queue_settings, redis_url=url, namespace=f"{queue_settings.namespace}-generate-{new_job_id()}"
        )
        async with connect(url) as redis:
            store = store_for(settings, qs)
            queue = JobQueue(redis, qs)
            try:
                job = await _submit(queue, store, prompt, model, image, seed)
                print(f"job {job.id}: {model}, rendering...", file=sys.stderr)
                daemon = Daemon(
                    queue, store, generator, replace(settings, metrics_port=0), classifier=classifier
                )
                progress = asyncio.create_task(_print_progress(redis, qs, job.id))
                code = await daemon.run(burst=True)
                progress.cancel()
                return code or await _write_result(queue, store, job.id, out)
            finally:
                await store.aclose()
                await _drop_namespace(redis, qs)


def _pick_model(loaded: list[ModelId], with_image: bool) -> ModelId:
    for model in loaded:
        if model.takes_image if with_image else not model.image_to_video:
            return model
    need = "an image-to-video" if with_image else "a text-to-video"
    raise ValueError(f"--image needs {need} model, but --model loaded {', '.join(loaded)}")


async def _submit(
    queue: JobQueue, store: BlobStore, prompt: str, model: ModelId, image: Path | None, seed: int | None
) -> JobRecord:
    job_id = new_job_id()
    image_ref = None
    if image is not None:
        recipe = recipe_for(model)
        # stored as the model's frame, as the bot stores an attachment
        png = await asyncio.to_thread(
            lambda: encode_png(decode_to_frame(image.read_bytes(), recipe.width, recipe.height))
        )
        image_ref = (await store.put(f"inputs/{job_id}.png", png, "image/png")).ref
    spec = GenerationSpec(prompt=prompt, model=model, seed=seed, image_ref=image_ref)
    job = JobRecord(
        id=job_id,
        request_id=f"generate-{secrets.token_hex(8)}",
        guild_id="0",
        channel_id="0",
        user_id="0",
        spec=spec,
        max_attempts=1,
    )
    return (await queue.enqueue(job)).job


async def _print_progress(redis: Redis, qs: QueueSettings, job_id: str) -> None:
    consumer = EventConsumer(redis, qs.keys, "generate", "cli")
    await consumer.ensure_group()
    while True:
        deliveries = await consumer.read(block_seconds=0.5)
        for d in deliveries:
            if d.event and d.event.job_id == job_id and d.event.type is EventType.PROGRESS:
                print(f"  step {d.event.data.get('step')}/{d.event.data.get('total')}", file=sys.stderr)
        await consumer.ack([d.id for d in deliveries])


async def _write_result(queue: JobQueue, store: BlobStore, job_id: str, out: Path) -> int:
    job = await queue.get(job_id)
    clip = job.clip()
    if job.status is not JobStatus.SUCCEEDED or clip is None:
        print(f"job {job_id} {job.status}: {job.error or 'no result'}", file=sys.stderr)
        return 1
    data = await store.get(clip.clip_ref)
    await asyncio.to_thread(out.write_bytes, data)
    note = " (prompt shortened to fit the model)" if clip.prompt_shortened else ""
    print(
        f"wrote {out}: {clip.frames} frames {clip.width}x{clip.height} at {clip.fps:g} fps, "
        f"seed {clip.seed}, rendered in {clip.render_seconds:.1f} s{note}",
        file=sys.stderr,
    )
    return 0


@contextlib.asynccontextmanager
async def _redis(url: str, configured: bool) -> AsyncIterator[str]:
    """The configured Redis, or a throwaway one when none is configured or answering."""
    if configured or ping(6379):
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="reelbot-redis-") as data:
        server = RedisServer(Path(data), free_port()).start()
        try:
            yield server.url
        finally:
            server.stop()


async def _drop_namespace(redis: Redis, qs: QueueSettings) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{qs.keys.prefix}*", count=1000)]
    if keys:
        await redis.delete(*keys)
