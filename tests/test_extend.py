"""Extend: a button under a clip (and ``/video extend:``) continues the clip from its last frame
with the image-to-video model of its family, as a new request of whoever asked, and posts the
two joined."""

from __future__ import annotations

import numpy as np

from inference.contract import ModelId
from inference.video import decode_mp4, probe_mp4
from tests.bot_box import Box, answered, buttons, png, reply_text

MODAL = 9  # the interaction response type that opens a form


async def posted_clip(box: Box, prompt: str = "a paper boat on a pond") -> tuple[str, object]:
    reply = await answered(box, await box.video(prompt=prompt))
    job_id = reply.split("`")[1]
    return job_id, await box.clip_message(job_id, 120)


async def test_the_extend_button_continues_the_clip_and_posts_the_two_joined(box: Box) -> None:
    job_id, clip = await posted_clip(box)
    assert f"reelbot:extend:{job_id}" in buttons(clip)
    opened = await box.double.click(box.channel, clip.id, f"reelbot:extend:{job_id}", box.other)
    await box.double.wait_for(lambda: bool(opened.responses), 10)
    assert opened.responses[0]["type"] == MODAL
    submitted = await box.double.submit_modal(
        box.channel, f"reelbot:extend-form:{job_id}", {"prompt": "the boat sails away"}, box.other, box.guild
    )
    await box.double.wait_for(lambda: bool(submitted.followups), 30)
    reply = reply_text(submitted)
    assert "with `cogvideox-5b-i2v`" in reply and "continues the clip" in reply, reply
    extension = await box.queue.get(reply.split("`")[1])
    source = await box.queue.get(job_id)
    assert extension.user_id == str(box.other)  # a new request, of whoever extended
    assert extension.spec.model is ModelId.COGVIDEOX_5B_I2V
    assert extension.spec.extend_ref == source.clip().clip_ref  # type: ignore[union-attr]
    assert extension.spec.prompt == "the boat sails away" and extension.spec.fps == 0

    joined = await box.clip_message(extension.id, 120)
    first = clip.attachments[0]["data"]  # type: ignore[attr-defined]
    both = joined.attachments[0]["data"]
    before, after = probe_mp4(first), probe_mp4(both)
    continuation = box.models[ModelId.COGVIDEOX_5B_I2V].recipe.frames
    assert after.frames == before.frames + continuation - 1  # the shared frame once
    assert (after.width, after.height, after.fps) == (before.width, before.height, before.fps)
    # the joined clip starts with the original clip's frames (encoded again: nearly equal)
    original = np.stack(decode_mp4(first).frames)
    start = np.stack(decode_mp4(both).frames[: before.frames])
    assert np.abs(original.astype(int) - start.astype(int)).mean() < 3
    fields = {f["name"]: f["value"] for f in joined.embeds[0]["fields"]}
    assert fields["Extends"].startswith(f"`{job_id}`")
    assert box.double.violations == []


async def test_video_extend_option_continues_a_clip_and_refuses_what_does_not_fit(box: Box) -> None:
    job_id, _ = await posted_clip(box)
    reply = await answered(box, await box.video(prompt="it rains", extend=job_id))
    assert "continues the clip" in reply, reply
    picture = box.double.host_attachment("cat.png", png(640, 360), "image/png")
    refused = await answered(
        box,
        await box.video(
            prompt="it rains", extend=job_id, image=picture["id"], attachments={picture["id"]: picture}
        ),
    )
    assert "leave out the image, shape and model options" in refused
    unknown = await answered(box, await box.video(prompt="it rains", extend="zzzzzzzz"))
    assert "zzzzzzzz" in unknown and "Queued" not in unknown
    assert box.double.violations == []


async def test_without_an_image_to_video_worker_extend_is_not_offered_and_is_refused(box: Box) -> None:
    await box.stop_worker()
    box.models = {ModelId.COGVIDEOX_5B: box.models[ModelId.COGVIDEOX_5B]}  # a text-only worker
    box.start_worker()
    job_id, clip = await posted_clip(box)
    assert f"reelbot:extend:{job_id}" not in buttons(clip)
    reply = await answered(box, await box.video(prompt="it rains", extend=job_id))
    assert "no worker runs it right now" in reply and "cogvideox-5b-i2v" in reply, reply
    assert "Queued" not in reply
    assert box.double.violations == []
