"""Smoother motion: frame interpolation to 16 or 24 fps (inference/interpolate.py), as a worker
setting and a per-request option, checked in the decoded MP4 through the worker and the bot."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.contract import ContractError, GenerationSpec, JobStatus, ModelId
from inference.generator import Generator
from inference.interpolate import smooth
from inference.settings import WorkerSettings
from inference.video import probe_mp4
from tests.bot_box import Box, answered
from tests.test_daemon import job, models, serve, store

__all__ = ["models", "store"]  # fixtures shared with tests/test_daemon.py


def moving(frames: int, height: int = 64, width: int = 96) -> np.ndarray[Any, Any]:
    y, x = np.mgrid[0:height, 0:width]
    luma = [(np.sin((x + 8 * t) / 10) + np.cos((y - 5 * t) / 8)) * 60 + 128 for t in range(frames)]
    return np.stack([f[..., None].repeat(3, -1) for f in luma]).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("count", "fps", "target", "expected"),
    [(9, 8, 16, 17), (9, 8, 24, 25), (49, 8, 16, 97), (81, 16, 24, 121)],
)
def test_the_smoothed_clip_spans_the_same_time(count: int, fps: int, target: int, expected: int) -> None:
    frames = moving(count)
    out = smooth(frames, fps, target)
    assert out.shape == (expected, 64, 96, 3) and out.dtype == np.uint8
    # first and last frames are the clip's own (up to the YUV 4:2:0 round trip)
    assert (
        np.abs(out[0].astype(int) - frames[0]).mean() < 2
        and np.abs(out[-1].astype(int) - frames[-1]).mean() < 2
    )
    # a frame between two rendered ones is new, not a copy of either (the first interval is
    # held, a known limit of the filter: see inference/interpolate.py)
    ratio = target / fps
    between = int(3 * ratio) + 1  # just after the rendered frame 3
    before, after = frames[int(between / ratio)].astype(int), frames[int(between / ratio) + 1].astype(int)
    assert np.abs(out[between] - before).mean() > 1 and np.abs(out[between] - after).mean() > 1


def test_what_cannot_be_smoothed_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a clip below it"):
        smooth(moving(9), 16, 16)
    with pytest.raises(ContractError, match="16 or 24 fps, not 30"):
        GenerationSpec(prompt="x", fps=30)
    with pytest.raises(ValueError, match="REELBOT_SMOOTH_FPS"):
        WorkerSettings(smooth_fps=12)
    # a spec without the option is written as before, so older workers still read it
    assert "fps" not in GenerationSpec(prompt="x").to_dict()
    assert GenerationSpec.from_dict(GenerationSpec(prompt="x", fps=24).to_dict()).fps == 24


@pytest.mark.parametrize(
    ("setting", "asked", "frames", "fps"),
    [(0, 16, 17, 16.0), (0, 24, 25, 24.0), (24, None, 25, 24.0), (24, 0, 9, 8.0), (0, None, 9, 8.0)],
)
async def test_the_worker_smooths_as_asked(
    queue: Any, store: Any, models: Any, setting: int, asked: int | None, frames: int, fps: float
) -> None:
    enqueued = await queue.enqueue(dataclasses.replace(job("a kite"), spec=GenerationSpec(
        prompt="a kite", model=ModelId.COGVIDEOX_5B, fps=asked)))  # fmt: skip
    assert await serve(queue, store, Generator(models), smooth_fps=setting) == 0
    record = await queue.get(enqueued.job.id)
    assert record.status is JobStatus.SUCCEEDED
    clip = record.clip()
    assert clip is not None and (clip.frames, clip.fps) == (frames, fps)
    info = probe_mp4(await store.get(clip.clip_ref))
    assert (info.frames, info.fps) == (frames, fps)
    assert (info.metadata.get("reelbot_smoothed_from") == "8 fps") == (fps != 8.0)


async def test_video_smooth_option_end_to_end(box: Box, tmp_path: Path) -> None:
    reply = await answered(box, await box.video(prompt="a kite over hills", smooth="16 fps"))
    job_id = reply.split("Queued `")[1].split("`")[0]
    assert (await box.queue.get(job_id)).spec.fps == 16
    clip = await box.clip_message(job_id, 90)
    info = probe_mp4(clip.attachments[0]["data"])
    assert (info.frames, info.fps) == (17, 16.0)
    fields = {f["name"]: f["value"] for f in clip.embeds[0]["fields"]}
    assert fields["Length"] == "1.1 s (17 frames at 16 fps)"
    reroll = await box.double.click(box.channel, clip.id, f"reelbot:reroll:{job_id}", box.member)
    again = (await answered(box, reroll)).split("Queued `")[1].split("`")[0]
    assert (await box.queue.get(again)).spec.fps == 16  # Re-roll repeats what was used
    assert box.double.violations == []
