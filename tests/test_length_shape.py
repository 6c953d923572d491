"""A clip's length and frame shape (GenerationSpec.length and .shape) through the real worker:
tiny pipelines loaded from disk, a real Redis, and what a member would see in the decoded MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from inference.contract import JobStatus, ModelId
from inference.generator import Generator
from inference.images import encode_png
from inference.jobqueue import JobQueue
from inference.pipelines import LoadedModel, load_models
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from inference.video import VideoInfo, probe_mp4
from tests.test_daemon import job, serve, store

__all__ = ["store"]  # a fixture shared with tests/test_daemon.py


@pytest.fixture(scope="module")
def models(tiny_dirs: dict[str, Path], tiny15_dirs: dict[str, Path]) -> dict[ModelId, LoadedModel]:
    dirs = (tiny_dirs["2b"], tiny_dirs["i2v"], tiny15_dirs["15"], tiny15_dirs["15i2v"])
    return load_models(WorkerSettings(models=tuple(map(str, dirs)), device="cpu"))


async def clip_of(queue: JobQueue, store: RedisBlobStore, job_id: str) -> VideoInfo:
    """The decoded MP4 of a succeeded job, checked against the result the bot reads."""
    record = await queue.get(job_id)
    assert record.status is JobStatus.SUCCEEDED, record.error
    clip = record.clip()
    assert clip is not None
    info = probe_mp4(await store.get(clip.clip_ref))
    assert (clip.frames, clip.width, clip.height, clip.fps) == (
        info.frames,
        info.width,
        info.height,
        info.fps,
    )
    return info


async def test_a_cogvideox15_clip_of_length_2_has_the_frames_of_two_clips(
    queue: JobQueue, store: RedisBlobStore, models: dict[ModelId, LoadedModel]
) -> None:
    recipe = models[ModelId.COGVIDEOX15_5B].recipe
    short = await queue.enqueue(job("a kite", ModelId.COGVIDEOX15_5B, seed=1))
    long = await queue.enqueue(job("a kite", ModelId.COGVIDEOX15_5B, seed=1, length=2))
    assert await serve(queue, store, Generator(models)) == 0
    one, two = await clip_of(queue, store, short.job.id), await clip_of(queue, store, long.job.id)
    assert (one.frames, two.frames) == (recipe.frames_for(1), recipe.frames_for(2)) == (9, 17)
    # the same frame and rate: twice as long, one frame shared where the two halves meet
    assert (one.width, one.height, one.fps) == (two.width, two.height, two.fps) == (112, 64, 16.0)
    assert two.duration == pytest.approx(2 * one.duration, rel=0.15)


async def test_image_to_video_keeps_the_image_shape_where_the_model_can(
    queue: JobQueue, store: RedisBlobStore, models: dict[ModelId, LoadedModel]
) -> None:
    portrait = Image.new("RGB", (360, 640), "teal")
    image_ref = (await store.put("inputs/portrait.png", encode_png(portrait), "image/png")).ref
    recipe = models[ModelId.COGVIDEOX15_5B_I2V].recipe
    asked = {
        None: recipe.frame_size("image", 360 / 640),  # 1.5-I2V's default: the image's own shape
        "landscape": (112, 64),
        "square": (64, 64),
    }
    ids = {
        shape: (
            await queue.enqueue(
                job("the cat wakes", ModelId.COGVIDEOX15_5B_I2V, image_ref=image_ref, shape=shape)
            )
        ).job.id
        for shape in asked
    }
    # CogVideoX-5b-I2V makes one frame: the portrait image is cropped to it
    cropped = await queue.enqueue(job("the cat wakes", ModelId.COGVIDEOX_5B_I2V, image_ref=image_ref))
    assert await serve(queue, store, Generator(models)) == 0
    for shape, size in asked.items():
        info = await clip_of(queue, store, ids[shape])
        assert (info.width, info.height) == size, shape
    assert asked[None] == (64, 112)  # portrait, as the image
    info = await clip_of(queue, store, cropped.job.id)
    assert (info.width, info.height) == (96, 64)


@pytest.mark.parametrize(
    ("asked", "made"),
    [({"length": 2}, "1 s clips, not 2 s"), ({"shape": "portrait"}, "landscape frames, not portrait")],
)
async def test_a_clip_the_model_cannot_make_fails_with_what_it_makes(
    queue: JobQueue, store: RedisBlobStore, models: Any, asked: dict[str, Any], made: str
) -> None:
    message = f"cogvideox-2b makes {made}; ask again for one it makes, or pick another model"
    refused = await queue.enqueue(job("a bee", ModelId.COGVIDEOX_2B, **asked))
    fine = await queue.enqueue(job("a bee", ModelId.COGVIDEOX_2B))
    assert await serve(queue, store, Generator(models)) == 0
    record = await queue.get(refused.job.id)
    assert (record.status, record.error, record.result) == (JobStatus.FAILED, message, None)
    assert record.attempts == 1  # failed for good, not retried
    assert (await clip_of(queue, store, fine.job.id)).frames == 9  # the next job is not lost
