"""Wan 2.2 through the bot: the options offered follow the families running workers serve, and a
portrait clip (asked for, or from a portrait image) comes back portrait at 24 fps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inference.contract import ModelId
from inference.daemon import Daemon
from inference.generator import Generator
from inference.jobqueue import JobQueue, QueueSettings
from inference.pipelines import load_models
from inference.safety import NsfwClassifier
from inference.settings import WorkerSettings
from inference.video import probe_mp4
from tests.bot_box import Box, answered, open_box, png

pytestmark = pytest.mark.timeout(300)


async def offered(box: Box, option: str) -> dict[str, str]:
    asked = await box.double.autocomplete(box.guild, box.channel, box.member, "video", {option: ""}, option)
    await box.double.wait_for(lambda: bool(asked.responses), 10)
    return {c["value"]: c["name"] for c in asked.responses[0]["data"]["choices"]}


@pytest.fixture
def wan_models(tiny_wan_dir: Path) -> Any:
    return load_models(WorkerSettings(models=(str(tiny_wan_dir),)))


@pytest.fixture
async def wan_box(
    restore_discord_urls: None,
    queue: JobQueue,
    settings: QueueSettings,
    wan_models: Any,
    classifier: NsfwClassifier,
) -> AsyncIterator[Box]:
    """A community whose worker runs Wan 2.2 only."""
    async with open_box(queue, settings, wan_models, classifier) as world:
        yield world


async def test_the_options_follow_the_families_running(box: Box, wan_models: Any) -> None:
    # CogVideoX only: no Wan, no portrait
    assert "wan2.2-ti2v-5b" not in await offered(box, "model")
    assert "portrait" not in await offered(box, "shape")
    # a Wan worker joins the queue next to the CogVideoX one
    wan = Daemon(box.queue, box.store, Generator(wan_models), WorkerSettings(metrics_port=0))
    serving = asyncio.create_task(wan.run())
    try:
        models: dict[str, str] = {}

        async def listed() -> bool:
            models.update(await offered(box, "model"))
            return "wan2.2-ti2v-5b" in models

        for _ in range(300):  # the worker registers its lane when it starts (within 60 s at worst)
            if await listed():
                break
            await asyncio.sleep(0.2)
        assert models["wan2.2-ti2v-5b"] == "wan2.2-ti2v-5b (text or image to video)"
        assert "cogvideox-5b" in models
        shapes = await offered(box, "shape")
        assert "portrait" in shapes and "wan2.2-ti2v-5b" in shapes["portrait"]
        # a portrait text clip goes to Wan: the only running model that makes one
        reply = await answered(box, await box.video(prompt="a lighthouse at dusk", shape="portrait"))
        job = await box.queue.get(reply.split("`")[1])
        assert job.spec.model is ModelId.WAN22_TI2V_5B
        info = probe_mp4((await box.clip_message(job.id, 180)).attachments[0]["data"])
        assert info.height > info.width and info.fps == 24.0
    finally:
        wan.stop()
        await asyncio.wait_for(serving, 60)
    assert box.double.violations == []


async def test_wan_alone_makes_text_and_image_clips_in_either_orientation(wan_box: Box) -> None:
    box = wan_box
    assert await offered(box, "length") == {"1": "5 s (wan2.2-ti2v-5b)"}
    assert set(await offered(box, "shape")) == {"image", "landscape", "portrait"}
    recipe = box.models[ModelId.WAN22_TI2V_5B].recipe

    text = await answered(box, await box.video(prompt="a paper boat on a pond"))
    info = probe_mp4((await box.clip_message(text.split("`")[1], 180)).attachments[0]["data"])
    assert (info.width, info.height, info.fps, info.frames) == (
        recipe.width,
        recipe.height,
        24.0,
        recipe.frames,
    )

    picture = box.double.host_attachment("tall.png", png(300, 480), "image/png")
    tall = await answered(
        box,
        await box.video(prompt="the tower sways", image=picture["id"], attachments={picture["id"]: picture}),
    )
    job = await box.queue.get(tall.split("`")[1])
    assert job.spec.model is ModelId.WAN22_TI2V_5B and job.spec.image_ref
    info = probe_mp4((await box.clip_message(job.id, 180)).attachments[0]["data"])
    assert (info.width, info.height) == recipe.frame_size("portrait")
    assert box.double.violations == []
