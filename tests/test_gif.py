"""The GIF button: a GIF of a posted clip that fits the upload limit (inference/animation.py), posted
once in the clip's channel through the Discord double and the real discord.py client."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.animation import make_clip
from inference.animation import clip_to_gif
from inference.video import VideoError
from tests.bot_box import Box, answered
from tests.discord_double.world import ATTACH_FILES

pytestmark = pytest.mark.timeout(300)
MiB = 2**20


@pytest.fixture(scope="module")
def full_size_clip() -> bytes:
    """49 frames at 720x480, 8 fps: the drifting pattern with grain that bench/animation.py times."""
    return make_clip(49, 720, 480, 8)


def gif_info(data: bytes) -> tuple[int, int, int, float]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "GIF" and image.info.get("loop") == 0  # loops forever, like a clip
        return image.width, image.height, image.n_frames, 1000 / image.info["duration"]


@pytest.mark.parametrize("limit", [10 * MiB, 8 * MiB])
def test_a_gif_fits_common_upload_limits(full_size_clip: bytes, limit: int) -> None:
    animation = clip_to_gif(full_size_clip, limit)
    assert animation is not None and len(animation.data) <= limit
    width, height, frames, fps = gif_info(animation.data)
    assert (width, height, frames) == (animation.width, animation.height, animation.frames) == (480, 320, 49)
    assert fps == pytest.approx(8, rel=0.05) and animation.reduced == ("480 px wide (from 720)",)


def test_a_tight_limit_reduces_size_then_frame_rate_and_says_so(full_size_clip: bytes) -> None:
    animation = clip_to_gif(full_size_clip, 1 * MiB)
    assert animation is not None and len(animation.data) <= 1 * MiB
    width, _, frames, fps = gif_info(animation.data)
    assert width < 480 and frames == 25 and fps == pytest.approx(4, rel=0.05)
    assert animation.reduced == (f"{width} px wide (from 720)", "4 fps (from 8)")
    assert clip_to_gif(full_size_clip, 10_000) is None  # not even 160 px at 4 fps fits


def test_a_clip_that_is_not_a_video_is_a_clear_error() -> None:
    with pytest.raises(VideoError, match="cannot be decoded"):
        clip_to_gif(b"not a video", MiB)


async def test_the_gif_button_posts_one_gif_of_a_posted_clip(box: Box) -> None:
    reply = await answered(box, await box.video(prompt="a paper boat on a pond"))
    job_id = reply.split("Queued `")[1].split("`")[0]
    clip = await box.clip_message(job_id, 90)

    box.double.deny_bot(box.channel, ATTACH_FILES)  # an admin takes Attach Files away
    blocked = await box.double.click(box.channel, clip.id, f"reelbot:gif:{job_id}", box.other)
    assert "cannot post the GIF" in await answered(box, blocked, 60)
    box.double.deny_bot(box.channel, 0)  # and gives it back: the next press makes the GIF
    pressed = await box.double.click(box.channel, clip.id, f"reelbot:gif:{job_id}", box.other)
    text = await answered(box, pressed, 60)
    assert "Posted the GIF" in text, text
    gif = await box.double.wait_for_message(box.channel, lambda m: any(
        a.get("filename", "").endswith(".gif") for a in m.attachments), 30)  # fmt: skip
    assert f"`{job_id}`" in gif.content and f"<@{box.other}>" in gif.content
    width, height, frames, _ = gif_info(gif.attachments[0]["data"])
    assert (width, height, frames) == (96, 64, 9)  # the tiny clip's own size: nothing reduced

    again = await box.double.click(box.channel, clip.id, f"reelbot:gif:{job_id}", box.member)
    assert "already posted" in await answered(box, again, 30)
    gifs = [m for m in box.double.messages(box.channel) if m.attachments and
            m.attachments[0].get("filename", "").endswith(".gif")]  # fmt: skip
    assert len(gifs) == 1

    deleted = await box.double.click(box.channel, clip.id, f"reelbot:delete:{job_id}", box.member)
    await box.double.wait_for(lambda: bool(deleted.followups or deleted.responses[1:]), 20)
    # a GIF button left on some other message of the bot's: the deleted clip is not converted
    stray = box.double.world.new_message(
        box.channel, box.double.world.bot_user_id, content="", components=[{"type": 1, "components": [
            {"type": 2, "style": 2, "label": "GIF", "custom_id": f"reelbot:gif:{job_id}"}]}],
    )  # fmt: skip
    late = await box.double.click(box.channel, stray.id, f"reelbot:gif:{job_id}", box.other)
    assert "was deleted" in await answered(box, late, 30)
    assert box.double.violations == []
