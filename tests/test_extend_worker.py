"""Extend through the real worker: a clip continued from its last frame by the image-to-video model,
the two joined into one MP4 (tiny pipelines loaded from disk, a real Redis, decoded MP4s)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from inference.contract import ClipResult, GenerationSpec, JobStatus, ModelId
from inference.generator import Generator
from inference.jobqueue import JobQueue
from inference.storage import RedisBlobStore
from inference.video import DecodedClip, decode_mp4, probe_mp4
from tests.test_daemon import job, models, serve, store

__all__ = ["models", "store"]  # fixtures shared with tests/test_daemon.py


async def finished(queue: JobQueue, job_id: str) -> ClipResult:
    record = await queue.get(job_id)
    assert record.status is JobStatus.SUCCEEDED, record.error
    clip = record.clip()
    assert clip is not None
    return clip


async def decoded(store: RedisBlobStore, clip: ClipResult) -> DecodedClip:
    return decode_mp4(await store.get(clip.clip_ref))


def psnr(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if error == 0 else 10 * np.log10(255**2 / error)


async def test_an_extended_clip_is_the_earlier_clip_then_its_continuation(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    first = await queue.enqueue(job("a bee on a flower", ModelId.COGVIDEOX_5B, seed=3))
    assert await serve(queue, store, Generator(models)) == 0
    earlier = await finished(queue, first.job.id)
    extend = await queue.enqueue(
        job("the bee flies off", ModelId.COGVIDEOX_5B_I2V, extend_ref=earlier.clip_ref, seed=4)
    )
    assert await serve(queue, store, Generator(models)) == 0

    joined = await finished(queue, extend.job.id)
    continuation = models[ModelId.COGVIDEOX_5B_I2V].recipe.frames
    assert joined.frames == earlier.frames + continuation - 1 == 17  # the shared frame once
    assert (joined.width, joined.height, joined.fps) == (earlier.width, earlier.height, earlier.fps)
    data = await store.get(joined.clip_ref)
    info = probe_mp4(data)
    assert (info.frames, info.width, info.height, info.fps) == (17, 96, 64, 8.0)
    assert info.metadata["reelbot_extends"] == first.job.id
    assert info.metadata["reelbot_job_id"] == extend.job.id
    assert joined.nsfw is not None and max(joined.nsfw.frames) >= earlier.frames  # the joined clip scored

    # the earlier clip plays first, frame for frame (re-encoding is lossy: close, not equal; the
    # tiny model's calm noise gives 42-45 dB against its own frame, 34-40 against a neighbour)
    before, after = (await decoded(store, earlier)).frames, decode_mp4(data).frames
    for index, frame in enumerate(after[: len(before)]):
        match = [psnr(old, frame) for old in before]
        assert match[index] > 38 and match[index] == max(match), f"joined frame {index}: {match}"
    # then the continuation: new frames, not the earlier clip's last one again (about 32 dB)
    assert all(psnr(before[-1], frame) < 38 for frame in after[len(before) :])


async def test_extending_a_smoothed_clip_keeps_its_frame_rate(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    first = await queue.enqueue(job("a kite", ModelId.COGVIDEOX_5B, seed=5, fps=16))
    assert await serve(queue, store, Generator(models)) == 0
    earlier = await finished(queue, first.job.id)
    assert (earlier.frames, earlier.fps) == (17, 16.0)
    # the bot asks for the earlier clip's rate; a request without it cannot be joined
    smoothed = await queue.enqueue(
        job("the kite climbs", ModelId.COGVIDEOX_5B_I2V, extend_ref=earlier.clip_ref, fps=16)
    )
    unsmoothed = await queue.enqueue(
        job("the kite falls", ModelId.COGVIDEOX_5B_I2V, extend_ref=earlier.clip_ref, fps=0)
    )
    assert await serve(queue, store, Generator(models)) == 0

    joined = await finished(queue, smoothed.job.id)
    info = probe_mp4(await store.get(joined.clip_ref))
    assert (joined.frames, joined.fps) == (info.frames, info.fps) == (17 + 17 - 1, 16.0)
    assert info.metadata["reelbot_smoothed_from"] == "8 fps"
    refused = await queue.get(unsmoothed.job.id)
    assert refused.status is JobStatus.FAILED
    assert refused.error == (
        "the clip to extend plays at 16 fps but its continuation was made at 8 fps, so they cannot "
        "be joined; extend it with smoothing at 16 fps, as the clip was made"
    )


async def test_extending_a_clip_no_longer_stored_fails_clearly(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    gone = (await store.put("clips/deleted.mp4", b"an mp4 that moderation took down", "video/mp4")).ref
    await store.delete(gone)
    extend = await queue.enqueue(job("more", ModelId.COGVIDEOX_5B_I2V, extend_ref=gone))
    fine = await queue.enqueue(job("a bee", ModelId.COGVIDEOX_5B))
    assert await serve(queue, store, Generator(models)) == 0
    record = await queue.get(extend.job.id)
    assert (record.status, record.attempts) == (JobStatus.FAILED, 1)
    assert record.error == "the clip to extend is no longer stored (clips expire); extend a newer clip"
    assert (await finished(queue, fine.job.id)).frames == 9  # the next job is not lost


def test_a_continuation_the_model_cannot_render_at_the_clip_size_is_fitted_to_it(models: Any) -> None:
    # CogVideoX-5b-I2V renders one frame (96 x 64 here); a clip of another size (a worker with
    # another frame grid made it) gets its continuation cropped to its shape and resized
    spec = GenerationSpec(
        prompt="more", model=ModelId.COGVIDEOX_5B_I2V, extend_ref="redis:x/clips/a.mp4", seed=1
    )
    last = Image.new("RGB", (64, 64), "teal")
    rendered = Generator(models).render(spec, last, lambda step, total: None, size=(48, 48))
    assert rendered.frames.shape == (9, 48, 48, 3) and (rendered.width, rendered.height) == (48, 48)
