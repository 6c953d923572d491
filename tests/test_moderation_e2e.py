"""Moderation end to end: the real discord.py bot against the Discord double, a tiny-model worker
with its output filter, real Redis. Approve, reject with a reason, permission at click time,
two moderators at once, a restart, appeals, escalation, and blocked clips never posted.
"""

from __future__ import annotations

import pytest

from bot.jobs import ClipState
from tests.bot_box import Box, answered, buttons, delivery_idle, moderated, png, reply_text, review_message

pytestmark = pytest.mark.timeout(180)


async def test_every_request_waits_for_approval_then_renders_and_is_posted(box: Box) -> None:
    review = await moderated(box, before_generation="every")

    asked = await box.video(prompt="a red kite over a beach")
    reply = await answered(box, asked)
    card = await review_message(box, review)
    approve, reject = buttons(card)
    job_id = reply.split("`")[1]
    assert "waits for a moderator's approval" in reply and approve == f"reelbot:approve:r{job_id}"
    assert reject == f"reelbot:reject:r{job_id}"
    assert card.embeds[0]["fields"][0]["value"] == f"<@{box.member}>"
    public = [m for m in box.double.messages(box.channel) if not m.flags & 64]
    assert all(job_id not in m.content for m in public)  # nothing posted before the decision

    clicked = await box.double.click(review, card.id, approve, box.moderator)
    await box.double.wait_for(lambda: bool(clicked.followups), 20)
    clip = await box.clip_message(job_id, 90)

    assert f"Approved: `{job_id}` is queued." == reply_text(clicked)
    assert clip.embeds[0]["description"] == "a red kite over a beach"
    assert card.components == [] and "Approved by" in str(card.embeds[0])
    log = box.double.messages(box.log_channel)  # type: ignore[attr-defined]
    assert any(f"approved the request `{job_id}`" in m.content for m in log)
    audit = await box.queue.redis.xrange(box.queue.keys.audit(str(box.guild)))
    assert any(f["action"] == "approved" and f["target"] == job_id for _, f in audit)
    assert box.double.violations == []


async def test_a_rejection_needs_a_reason_and_the_member_is_told_it(box: Box) -> None:
    review = await moderated(box, before_generation="every")
    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await review_message(box, review)

    opened = await box.double.click(review, card.id, f"reelbot:reject:r{job_id}", box.moderator)
    await box.double.wait_for(lambda: bool(opened.responses), 10)
    assert opened.responses[0]["type"] == 9
    submitted = await box.double.submit_modal(
        review,
        f"reelbot:reject-form:r{job_id}",
        {"reason": "not in this channel, please"},
        box.moderator,
        box.guild,
    )
    await box.double.wait_for(lambda: bool(submitted.followups), 20)
    told = await box.double.wait_for_message(box.channel, lambda m: "did not approve" in m.content, 10)

    assert "not in this channel, please" in told.content and f"<@{box.member}>" in told.content
    assert await box.queue.redis.zcard(box.queue.keys.member_jobs(str(box.guild), str(box.member))) == 0
    assert box.double.violations == []


async def test_clicks_are_checked_when_they_happen(box: Box) -> None:
    role = box.double.add_role(box.guild, "reviewers")
    review = await moderated(box, before_generation="every", moderator_role=role)
    box.double.give_role(box.guild, box.other, role)
    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await review_message(box, review)
    approve = f"reelbot:approve:r{job_id}"

    member = await box.double.click(review, card.id, approve, box.member)
    await box.double.wait_for(lambda: bool(member.responses), 10)
    box.double.take_role(box.guild, box.other, role)  # the role goes after the message was posted
    former = await box.double.click(review, card.id, approve, box.other)
    await box.double.wait_for(lambda: bool(former.responses), 10)

    for refused in (member, former):
        assert (
            "Manage Messages permission or this server's moderator role"
            in refused.responses[0]["data"]["content"]
        )
    assert (await box.parts.approvals.get(f"r{job_id}")).state == "pending"  # type: ignore[union-attr]
    box.double.give_role(box.guild, box.other, role)
    allowed = await box.double.click(review, card.id, approve, box.other)
    await box.double.wait_for(lambda: bool(allowed.followups), 20)
    assert "is queued" in reply_text(allowed)


async def test_two_moderators_clicking_at_once_100_times_make_one_decision_each_time(box: Box) -> None:
    await box.stop_worker()  # the approved jobs only need to be queued
    await box.ask(box.admin, "settings limits", rate=0, active=0, server_queue=0)
    second = box.double.add_member(box.guild, "mod2", moderator=True)
    review = await moderated(box, before_generation="every")
    for round_ in range(100):
        asked = await box.video(prompt=f"a red kite, take {round_}")
        job_id = (await answered(box, asked)).split("`")[1]
        card = await box.double.wait_for_message(
            review, lambda m, j=job_id: bool(m.components) and j in str(m.embeds), 20
        )
        # both clicks reach the bot before either is handled
        clicks = [
            await box.double.click(review, card.id, f"reelbot:approve:r{job_id}", who)
            for who in (box.moderator, second)
        ]
        await box.double.wait_for(lambda c=clicks: all(x.followups for x in c), 20)
        texts = sorted(reply_text(c) for c in clicks)
        assert texts[0].endswith("already approved this.") and texts[1] == f"Approved: `{job_id}` is queued."
    assert await box.queue.guild_depth(str(box.guild)) == 100  # one job per review, all waiting
    audit = await box.queue.redis.xrange(box.queue.keys.audit(str(box.guild)))
    assert sum(1 for _, f in audit if f["action"] == "approved") == 100


async def test_a_review_can_be_decided_after_a_bot_restart(box: Box) -> None:
    review = await moderated(box, before_generation="every")
    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await review_message(box, review)

    await box.stop_bot()
    await box.start_bot()
    clicked = await box.double.click(review, card.id, f"reelbot:approve:r{job_id}", box.moderator)
    await box.double.wait_for(lambda: bool(clicked.followups), 20)

    assert reply_text(clicked) == f"Approved: `{job_id}` is queued."
    await box.clip_message(job_id, 90)


async def test_a_blocked_clip_is_never_posted(box: Box) -> None:
    await moderated(box, review_at=0, block_at=0)  # every clip scores at least 0: all blocked

    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    told = await box.double.wait_for_message(box.channel, lambda m: "was not posted" in m.content, 90)

    assert job_id in told.content and "content filter rated the clip explicit" in told.content
    await delivery_idle(box)  # every event handled: a clip would be posted by now
    assert not any(
        a["filename"].endswith(".mp4") for m in box.double.messages(box.channel) for a in m.attachments
    )
    notes = await box.parts.jobs.notes(job_id)
    assert notes.clip_message is None and "not posted" in (notes.failed or "")
    assert notes.clip_state is ClipState.REFUSED


async def test_a_flagged_clip_waits_behind_a_spoiler_and_is_posted_once_approved(box: Box) -> None:
    review = await moderated(box, review_at=0, block_at=100)  # every clip flagged, none blocked

    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await review_message(box, review, 90)
    held = await box.double.wait_for_message(box.channel, lambda m: "waits for a moderator" in m.content, 10)

    assert card.attachments[0]["filename"] == f"SPOILER_reelbot-{job_id}.mp4"
    assert not any(
        a["filename"] == f"reelbot-{job_id}.mp4"
        for m in box.double.messages(box.channel)
        for a in m.attachments
    )
    clicked = await box.double.click(review, card.id, f"reelbot:approve:c{job_id}", box.moderator)
    await box.double.wait_for(lambda: bool(clicked.followups), 20)
    await box.clip_message(job_id, 30)
    assert job_id in held.content


async def test_a_refusal_can_be_appealed_and_an_approved_appeal_is_queued(box: Box) -> None:
    review = await moderated(box)
    asked = await box.video(prompt="a spooky hentai poster")
    await box.double.wait_for(lambda: bool(asked.followups), 20)
    refusal = asked.followups[0]
    (appeal,) = buttons(refusal)

    assert "cannot be made here" in refusal.content and "“hentai”" in refusal.content
    pressed = await box.double.click(box.channel, refusal.id, appeal, box.member)
    await box.double.wait_for(lambda: bool(pressed.followups), 20)
    assert "Sent to the moderators" in reply_text(pressed)
    card = await review_message(box, review)
    assert "appeals" in card.embeds[0]["title"]
    approve = next(b for b in buttons(card) if "approve" in b)
    clicked = await box.double.click(review, card.id, approve, box.moderator)
    await box.double.wait_for(lambda: bool(clicked.followups), 20)
    assert "is queued" in reply_text(clicked)


async def test_repeated_blocks_pause_the_member(box: Box) -> None:
    for i in range(3):
        refused = await box.video(prompt=f"p0rn number {i}")
        assert "cannot be made here" in await answered(box, refused)
    paused = await box.video(prompt="a red kite")

    assert "paused until <t:" in await answered(box, paused)


async def test_settings_show_words_and_channels(box: Box) -> None:
    elsewhere = box.double.add_channel(box.guild, "elsewhere")
    await box.ask(box.admin, "settings words", block="spiders, wasp*")
    shown = await box.ask(box.admin, "settings channels", add=elsewhere)
    spiders = await box.video(prompt="a room of spiders")

    assert "Word list additions: 2 refused" in shown and f"/video works in: <#{elsewhere}>" in shown
    assert "Videos are made in" in await answered(box, spiders)
    await box.ask(box.admin, "settings channels", everywhere=True)
    wasps = await box.video(prompt="angry wasps")
    assert "“wasp*”" in await answered(box, wasps)
    refused = await box.ask(box.member, "settings words", block="kites")
    assert "Manage Server" in refused


async def test_an_attached_image_is_filtered_with_looser_thresholds_in_age_restricted_channels(
    box: Box,
) -> None:
    await moderated(box, review_at=0, block_at=0, adult_review_at=100, adult_block_at=100)
    adults = box.double.add_channel(box.guild, "after-dark", nsfw=True)
    await box.double.wait_for(lambda: box.bot.get_channel(adults) is not None, 10)  # CHANNEL_CREATE
    picture = box.double.host_attachment("cat.png", png(640, 360, "orange"), "image/png")

    refused = await box.video(prompt="make it move", image=picture)
    refusal = await answered(box, refused)
    allowed = await box.double.slash(
        box.guild, adults, box.member, "video", {"prompt": "make it move", "image": picture}
    )

    assert "the content filter rated the image explicit" in refusal
    assert "Queued `" in await answered(box, allowed)
