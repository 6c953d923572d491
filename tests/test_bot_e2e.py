"""End to end: the real discord.py bot, a worker with tiny pipelines, real Redis, the Discord double.

Every test checks what a member would see in the channel, and that the double saw no
request that breaks Discord's API description or rules (``double.violations``).
"""

from __future__ import annotations

import dataclasses
import io
import time

import discord
import pytest
from PIL import Image

from bot.jobs import ClipState
from inference.contract import JobStatus, ModelId
from inference.video import probe_mp4
from tests.bot_box import Box, delivery_idle, png, png_declaring, reply_text
from tests.discord_double.world import ATTACH_FILES

pytestmark = pytest.mark.timeout(240)


async def test_video_from_text_arrives_as_an_mp4_in_the_channel(box: Box) -> None:
    interaction = await box.video(prompt="a bee on a flower", seed=11)
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    assert interaction.responses[0]["type"] == 5  # deferred within 3 s
    assert "Queued `" in reply_text(interaction)
    job_id = reply_text(interaction).split("`")[1]
    clip = await box.clip_message(job_id)
    assert f"<@{box.member}>" in clip.content
    info = probe_mp4(clip.attachments[0]["data"])
    assert (info.frames, info.width, info.height, info.fps) == (9, 96, 64, 8.0)
    embed = clip.embeds[0]
    assert embed["footer"]["text"] == f"job {job_id}"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Seed"] == "11" and fields["Model"] == "cogvideox-5b"
    assert fields["Length"] == "1.1 s (9 frames at 8 fps)" and fields["Size"] == "96x64 (landscape)"
    custom_ids = [c["custom_id"] for row in clip.components for c in row["components"]]
    # Extend is offered: the worker runs cogvideox-5b-i2v, which continues cogvideox-5b clips
    assert custom_ids == [f"reelbot:{a}:{job_id}" for a in ("reroll", "remix", "extend", "gif", "delete")]
    status = await box.double.wait_for_message(
        box.channel, lambda m: not m.flags & 64 and m.id != clip.id and f"`{job_id}` is ready" in m.content
    )
    assert str(clip.id) in status.content  # a link to the clip
    assert status.components == []  # the Cancel button is gone
    assert box.double.violations == []


async def test_video_from_an_image_is_image_to_video(box: Box) -> None:
    picture = box.double.host_attachment("cat.png", png(640, 360), "image/png")
    interaction = await box.video(
        prompt="the cat wakes up", image=picture["id"], attachments={picture["id"]: picture}
    )
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    job_id = reply_text(interaction).split("`")[1]
    assert (await box.queue.get(job_id)).spec.model is ModelId.COGVIDEOX_5B_I2V
    preview = interaction.followups[0].attachments[0]
    assert Image.open(io.BytesIO(preview["data"])).size[0] <= 480
    clip = await box.clip_message(job_id)
    assert probe_mp4(clip.attachments[0]["data"]).frames == 9
    assert box.double.violations == []


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("notes.png", b"just some text, not an image at all\n" * 20, "PNG, JPEG or WEBP"),
        ("bomb.png", png_declaring(20000, 20000), "20000x20000"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
            "PNG, JPEG or WEBP",
        ),
        ("huge.jpg", b"\xff\xd8\xff" + b"\0" * (12 * 2**20), "MiB"),
        ("anim.gif", b"GIF89a" + b"\0" * 64, "GIF"),
    ],
    ids=["text-as-png", "declared-20000px", "svg", "12-mib-jpeg", "gif"],
)
async def test_bad_attachments_are_refused_with_a_reason_and_no_job(
    box: Box, filename: str, data: bytes, expected: str
) -> None:
    attachment = box.double.host_attachment(filename, data)
    interaction = await box.video(
        prompt="x", image=attachment["id"], attachments={attachment["id"]: attachment}
    )
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    text = reply_text(interaction)
    assert expected in text and "Queued" not in text
    assert (await box.queue.depth()).get("all", 0) == 0
    assert box.double.violations == []


async def test_a_replayed_interaction_makes_one_job_and_is_answered_once(box: Box) -> None:
    await box.stop_worker()  # the job stays queued, so counting them is exact
    interaction = await box.video(prompt="a fox in the snow")
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    await box.double.replay(interaction)  # as a resumed gateway can deliver it
    later = await box.video(box.other, prompt="a hare in the snow")  # handled after the copy
    await box.double.wait_for(lambda: bool(later.followups), 10)

    jobs = await box.parts.jobs.member_jobs(str(box.guild), str(box.member))
    assert len(jobs) == 1 and len(interaction.responses) == 1 and len(interaction.followups) == 1
    assert box.double.violations == []  # the copy was not answered (Discord would refuse it)


async def test_cancel_through_the_status_button(box: Box) -> None:
    await box.stop_worker()  # the job must still be waiting when the button is pressed
    interaction = await box.video(prompt="a long one", seed=3)
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    job_id = reply_text(interaction).split("`")[1]
    status = await box.double.wait_for_message(
        box.channel, lambda m: not m.flags & 64 and f"`{job_id}`" in m.content
    )
    stranger = await box.double.click(box.channel, status.id, f"reelbot:cancel:{job_id}", box.other)
    await box.double.wait_for(lambda: bool(stranger.followups), 10)
    assert "Only the member who asked" in reply_text(stranger)
    assert (await box.queue.get(job_id)).status is JobStatus.QUEUED
    mine = await box.double.click(box.channel, status.id, f"reelbot:cancel:{job_id}", box.member)
    await box.double.wait_for(lambda: bool(mine.followups), 10)
    assert reply_text(mine) == f"Cancelled `{job_id}`."
    assert (await box.queue.get(job_id)).status is JobStatus.CANCELLED
    await box.double.wait_for_message(
        box.channel, lambda m: m.id == status.id and "was cancelled" in m.content
    )
    assert box.double.violations == []


async def test_a_restarted_bot_posts_each_clip_once_and_old_buttons_work(box: Box) -> None:
    first = await box.video(prompt="before the restart", seed=1)
    await box.double.wait_for(lambda: bool(first.followups), 10)
    first_id = reply_text(first).split("`")[1]
    await box.clip_message(first_id)
    await box.stop_worker()
    second = await box.video(prompt="during the restart", seed=2)
    await box.double.wait_for(lambda: bool(second.followups), 10)
    second_id = reply_text(second).split("`")[1]
    await box.stop_bot()  # the bot goes away while the job waits, renders and finishes
    box.start_worker()
    await box.double.wait_for_async(
        lambda: _status_is(box, second_id, JobStatus.SUCCEEDED), 90
    )  # finished while the bot was away
    await box.start_bot()
    await box.clip_message(second_id)
    await delivery_idle(box)  # every event handled: a duplicate would be posted by now
    clips = [m for m in box.double.messages(box.channel) if m.attachments and not m.flags & 64]
    names = sorted(a["filename"] for m in clips for a in m.attachments)
    assert names == sorted([f"reelbot-{first_id}.mp4", f"reelbot-{second_id}.mp4"])  # each exactly once
    # a button drawn before the restart still works, and checks who presses it
    old_clip = await box.clip_message(first_id)
    reroll = await box.double.click(box.channel, old_clip.id, f"reelbot:reroll:{first_id}", box.other)
    await box.double.wait_for(lambda: bool(reroll.followups), 10)
    new_id = reply_text(reroll).split("`")[1]
    rerolled = await box.queue.get(new_id)
    assert rerolled.user_id == str(box.other) and rerolled.spec.prompt == "before the restart"
    delete = await box.double.click(box.channel, old_clip.id, f"reelbot:delete:{first_id}", box.other)
    await box.double.wait_for(lambda: bool(delete.followups) or bool(delete.responses), 10)
    assert "Only the member who asked" in reply_text(delete) + str(delete.responses)
    assert not old_clip.deleted
    assert box.double.violations == []


async def test_a_clip_over_the_upload_limit_is_re_encoded(box: Box) -> None:
    await box.stop_bot()
    box.settings = dataclasses.replace(box.settings, max_upload_bytes=4_000)
    await box.start_bot()
    interaction = await box.video(prompt="a bee on a flower", seed=5)
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    job_id = reply_text(interaction).split("`")[1]
    await box.double.wait_for_async(lambda: _status_is(box, job_id, JobStatus.SUCCEEDED), 90)
    record = await box.queue.get(job_id)
    assert record.result is not None and record.result["bytes"] > 4_000  # the calm smoke-test clip is ~8 kB
    message = await box.double.wait_for_message(
        box.channel, lambda m: not m.flags & 64 and (bool(m.attachments) or "upload limit" in m.content), 60
    )
    if message.attachments:  # re-encoded to fit
        data = message.attachments[0]["data"]
        assert len(data) <= 4_000 and probe_mp4(data).frames == 9
    else:  # or a clear failure: no S3 link is possible with Redis storage
        assert "upload limit" in message.content and "REELBOT_STORAGE=s3" in message.content
    assert box.double.violations == []


async def test_missing_channel_permissions_are_named_and_nothing_is_queued(box: Box) -> None:
    no_attach = 0
    for flag in (
        "view_channel",
        "send_messages",
        "embed_links",
        "read_message_history",
        "use_application_commands",
    ):
        no_attach |= getattr(discord.Permissions, flag).flag
    interaction = await box.double.slash(
        box.guild, box.channel, box.member, "video", {"prompt": "x"}, app_permissions=no_attach
    )
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    assert "missing Attach Files" in reply_text(interaction)
    assert (await box.queue.depth()).get("all", 0) == 0
    assert box.double.violations == []


async def test_a_job_finishing_after_sixteen_minutes_is_still_delivered(box: Box) -> None:
    await box.stop_worker()
    interaction = await box.video(prompt="a slow sunrise", seed=4)
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    job_id = reply_text(interaction).split("`")[1]
    box.double.advance_clock(16 * 60)  # the interaction token is dead now
    box.start_worker()
    clip = await box.clip_message(job_id)
    assert f"<@{box.member}>" in clip.content and clip.webhook_id is None  # posted with the bot token
    assert box.double.violations == []


async def test_queue_cancel_and_job_commands(box: Box) -> None:
    await box.stop_worker()
    first = await box.video(prompt="one", seed=1)
    await box.double.wait_for(lambda: bool(first.followups), 10)
    second = await box.video(prompt="two", seed=2)
    await box.double.wait_for(lambda: bool(second.followups), 10)
    first_id, second_id = (reply_text(i).split("`")[1] for i in (first, second))
    assert "You are next." in reply_text(first) and "1 ahead of you." in reply_text(second)
    listing = await box.double.slash(box.guild, box.channel, box.member, "queue show")
    await box.double.wait_for(lambda: bool(listing.followups), 10)
    text = reply_text(listing)
    assert "This server has 2 videos waiting." in text and f"`{second_id}`" in text and "1 ahead" in text
    refused = await box.double.slash(box.guild, box.channel, box.other, "cancel", {"job": second_id})
    await box.double.wait_for(lambda: bool(refused.followups), 10)
    assert "Only the member who asked" in reply_text(refused)
    by_mod = await box.double.slash(box.guild, box.channel, box.moderator, "cancel", {"job": second_id})
    await box.double.wait_for(lambda: bool(by_mod.followups), 10)
    assert reply_text(by_mod) == f"Cancelled `{second_id}`."
    box.start_worker()
    await box.clip_message(first_id)
    again = await box.double.slash(box.guild, box.channel, box.other, "job", {"id": first_id})
    await box.double.wait_for(lambda: bool(again.followups), 10)
    shown = again.followups[0]
    assert shown.flags & 64 and shown.attachments[0]["filename"] == f"reelbot-{first_id}.mp4"
    gone = await box.double.slash(box.guild, box.channel, box.member, "job", {"id": second_id})
    await box.double.wait_for(lambda: bool(gone.followups), 10)
    assert f"Job `{second_id}` is cancelled" in reply_text(gone)
    assert box.double.violations == []


async def test_remix_form_and_delete_by_the_requester(box: Box) -> None:
    interaction = await box.video(prompt="a red kite", seed=9)
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    job_id = reply_text(interaction).split("`")[1]
    clip = await box.clip_message(job_id)
    opened = await box.double.click(box.channel, clip.id, f"reelbot:remix:{job_id}", box.other)
    await box.double.wait_for(lambda: bool(opened.responses), 10)
    modal = opened.responses[0]
    assert modal["type"] == 9 and "a red kite" in str(modal["data"])
    submitted = await box.double.submit_modal(
        box.channel, f"reelbot:remix-form:{job_id}", {"prompt": "a blue kite"}, box.other, box.guild
    )
    await box.double.wait_for(lambda: bool(submitted.followups), 10)
    remix_id = reply_text(submitted).split("`")[1]
    remix = await box.queue.get(remix_id)
    assert remix.spec.prompt == "a blue kite" and remix.user_id == str(box.other)
    delete = await box.double.click(box.channel, clip.id, f"reelbot:delete:{job_id}", box.member)
    await box.double.wait_for(lambda: bool(delete.followups), 10)
    assert clip.deleted and reply_text(delete) == f"Deleted the clip of `{job_id}`."
    assert box.double.violations == []


async def test_a_channel_the_bot_cannot_post_in_is_refused_early_or_reported_to_admins_once(box: Box) -> None:
    await box.stop_worker()
    ids = []
    for prompt in ("first", "second"):
        interaction = await box.video(prompt=prompt)
        await box.double.wait_for(lambda i=interaction: bool(i.followups), 10)
        ids.append(reply_text(interaction).split("`")[1])
    log = box.double.add_channel(box.guild, "mod-log")
    assert "Changed" in await box.ask(box.admin, "settings moderation", log_channel=log)
    box.double.deny_bot(box.channel, ATTACH_FILES)  # an admin takes Attach Files away
    refused = await box.ask(box.member, "video", prompt="third")
    assert "I am missing Attach Files" in refused and "Queued" not in refused  # known at once: nothing queued
    box.start_worker()
    for job_id in ids:
        await box.double.wait_for_async(lambda j=job_id: _undeliverable(box, j), 90)
    told = [m for m in box.double.messages(log) if "For this server's admins" in m.content]
    assert len(told) == 1 and "Attach Files" in told[0].content and f"<#{box.channel}>" in told[0].content
    problems = [e for e in await box.parts.audit.recent(str(box.guild)) if e.action == "problem"]
    assert len(problems) == 1
    assert "Attach Files" in await box.ask(box.admin, "settings show")
    quota = await box.queue.redis.hgetall(box.queue.keys.quota(str(box.guild), int(time.time() // 86400)))
    assert int(quota.get("used", 0)) == 0  # neither clip was charged
    assert box.double.violations == []


async def _undeliverable(box: Box, job_id: str) -> bool:
    return (await box.parts.jobs.notes(job_id)).clip_state is ClipState.UNDELIVERABLE


async def test_discord_server_errors_delay_a_clip_but_do_not_lose_it(box: Box) -> None:
    await box.stop_worker()
    interaction = await box.video(prompt="through the storm", seed=6)
    await box.double.wait_for(lambda: bool(interaction.followups), 10)
    job_id = reply_text(interaction).split("`")[1]
    # more 500s than discord.py retries on its own: the event stays pending and is retried
    box.double.fail_next("POST", "/channels/*/messages", 500, times=5)
    box.start_worker()
    clip = await box.clip_message(job_id, timeout=90)
    assert f"<@{box.member}>" in clip.content
    clips = [m for m in box.double.messages(box.channel) if m.attachments and not m.flags & 64]
    assert len(clips) == 1
    assert box.double.violations == []


async def _status_is(box: Box, job_id: str, status: JobStatus) -> bool:
    return (await box.queue.get(job_id)).status is status
