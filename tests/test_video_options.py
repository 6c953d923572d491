"""``/video length:`` and ``shape:``: offered only where a running model makes them, refused
clearly elsewhere, and a 10 s clip counts as two in the member's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inference.contract import ModelId
from inference.jobqueue import JobQueue, QueueSettings
from inference.pipelines import load_models
from inference.safety import NsfwClassifier
from inference.settings import WorkerSettings
from inference.video import probe_mp4
from tests.bot_box import Box, answered, open_box, png


@pytest.fixture
async def box15(
    restore_discord_urls: None,
    queue: JobQueue,
    settings: QueueSettings,
    tiny15_dirs: dict[str, Path],
    classifier: NsfwClassifier,
) -> AsyncIterator[Box]:
    """A community whose worker runs the CogVideoX 1.5 stand-ins (text and image to video)."""
    models = load_models(WorkerSettings(models=(str(tiny15_dirs["15"]), str(tiny15_dirs["15i2v"]))))
    async with open_box(queue, settings, models, classifier) as world:
        yield world


async def offered(box: Box, option: str) -> list[dict[str, Any]]:
    asked = await box.double.autocomplete(box.guild, box.channel, box.member, "video", {option: ""}, option)
    await box.double.wait_for(lambda: bool(asked.responses), 10)
    return list(asked.responses[0]["data"]["choices"])


async def test_a_10_s_clip_and_shapes_are_not_offered_where_no_running_model_makes_them(box: Box) -> None:
    lengths = await offered(box, "length")
    assert [c["value"] for c in lengths] == ["1"]
    assert lengths[0]["name"].startswith("6 s (cogvideox-5b, cogvideox-5b-i2v")
    assert [c["value"] for c in await offered(box, "shape")] == ["landscape"]
    reply = await answered(box, await box.video(prompt="a kite", length="2"))
    assert "`cogvideox-5b` makes 6 s clips only, not longer ones" in reply, reply
    assert "Running now: `cogvideox-5b`: 6 s, landscape" in reply
    reply = await answered(box, await box.video(prompt="a kite", shape="portrait"))
    assert "makes landscape frames only, not portrait (vertical)" in reply, reply
    reply = await answered(box, await box.video(prompt="a kite", length="forever"))
    assert "is not a length I know" in reply
    assert await box.queue.redis.zcard(box.queue.keys.member_jobs(str(box.guild), str(box.member))) == 0
    assert box.double.violations == []


async def test_cogvideox15_offers_10_s_clips_and_renders_them_twice_as_long(box15: Box) -> None:
    box = box15
    lengths = {c["value"]: c["name"] for c in await offered(box, "length")}
    assert lengths["1"].startswith("5 s (cogvideox1.5-5b, cogvideox1.5-5b-i2v")
    assert lengths["2"].startswith("10 s (") and "counts as 2 videos" in lengths["2"]
    shapes = [c["value"] for c in await offered(box, "shape")]
    assert shapes == ["image", "landscape", "portrait", "square"]

    reply = await answered(box, await box.video(prompt="a lighthouse at dusk", length="2"))
    job_id = reply.split("Queued `")[1].split("`")[0]
    job = await box.queue.get(job_id)
    assert (job.spec.model, job.spec.length) == (ModelId.COGVIDEOX15_5B, 2)
    recipe = box.models[ModelId.COGVIDEOX15_5B].recipe
    clip = await box.clip_message(job_id, 120)
    info = probe_mp4(clip.attachments[0]["data"])
    assert info.frames == recipe.frames_for(2) == 2 * recipe.frames - 1
    fields = {f["name"]: f["value"] for f in clip.embeds[0]["fields"]}
    assert f"({info.frames} frames at 16 fps)" in fields["Length"]
    assert box.double.violations == []


async def test_a_portrait_image_keeps_its_shape_with_cogvideox15_i2v(box15: Box) -> None:
    box = box15
    image = box.double.host_attachment("tall.png", png(300, 480), "image/png")
    attached = {"image": image["id"], "attachments": {image["id"]: image}}
    reply = await answered(box, await box.video(prompt="a tall tower sways", **attached))
    job_id = reply.split("Queued `")[1].split("`")[0]
    assert (await box.queue.get(job_id)).spec.model is ModelId.COGVIDEOX15_5B_I2V
    clip = await box.clip_message(job_id, 120)
    info = probe_mp4(clip.attachments[0]["data"])
    recipe = box.models[ModelId.COGVIDEOX15_5B_I2V].recipe
    assert (info.width, info.height) == recipe.frame_size("image", 300 / 480)
    assert info.height > info.width
    fields = {f["name"]: f["value"] for f in clip.embeds[0]["fields"]}
    assert fields["Size"] == f"{info.width}x{info.height} (portrait)"
    # the same image asked for square is square
    square = await answered(box, await box.video(prompt="a tall tower", shape="square", **attached))
    square_id = square.split("Queued `")[1].split("`")[0]
    info = probe_mp4((await box.clip_message(square_id, 120)).attachments[0]["data"])
    assert info.width == info.height
    assert box.double.violations == []


async def test_a_10_s_clip_counts_as_two_in_the_daily_allowance(box15: Box) -> None:
    box = box15
    assert "Changed" in await box.ask(box.admin, "settings limits", rate=0, active=0, member_daily=3)
    first = await answered(box, await box.video(prompt="a lighthouse", length="2"))
    assert first.startswith("Queued `"), first
    refused = await answered(box, await box.video(prompt="a lighthouse", length="2"))
    assert "A 10 s clip counts as two videos: a 5 s one may still fit." in refused, refused
    assert (await answered(box, await box.video(prompt="a lighthouse"))).startswith("Queued `")
    assert box.double.violations == []
