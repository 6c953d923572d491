"""Input images are kept only while a request or its clip needs them (bot/inputs.py).

End to end through the Discord double with the real discord.py bot, a tiny-model worker and
real Redis; the sweep of waiting requests' images is driven directly (its wait is a day).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from inference.storage import BlobNotFound
from tests.bot_box import Box, answered, buttons, moderated, png, reply_text

pytestmark = pytest.mark.timeout(180)


async def ask_with_image(box: Box, prompt: str, user: int | None = None) -> Any:
    picture = box.double.host_attachment("cat.png", png(640, 360), "image/png")
    interaction = await box.video(
        user, prompt=prompt, image=picture["id"], attachments={picture["id"]: picture}
    )
    await box.double.wait_for(lambda: bool(interaction.followups), 20)
    return interaction


async def gone(box: Box, ref: str) -> bool:
    try:
        await box.store.get(ref)
    except BlobNotFound:
        return True
    return False


async def test_a_cancelled_jobs_input_is_deleted(box: Box) -> None:
    await box.stop_worker()
    asked = await ask_with_image(box, "the cat wakes up")
    job_id = reply_text(asked).split("`")[1]
    ref = (await box.queue.get(job_id)).spec.image_ref
    assert ref is not None and not await gone(box, ref)

    assert "Cancelled" in await box.ask(box.member, "cancel", job=job_id)
    await box.double.wait_for_async(lambda: gone(box, ref), 30)


async def test_a_reroll_gets_its_own_copy_and_a_deleted_clip_takes_only_its_own_input(box: Box) -> None:
    asked = await ask_with_image(box, "the cat wakes up")
    job_id = reply_text(asked).split("`")[1]
    clip = await box.clip_message(job_id, 90)
    original = (await box.queue.get(job_id)).spec.image_ref
    reroll = await box.double.click(box.channel, clip.id, f"reelbot:reroll:{job_id}", box.other)
    await box.double.wait_for(lambda: bool(reroll.followups), 20)
    second = (await box.queue.get(reply_text(reroll).split("`")[1])).spec.image_ref
    assert original and second and second != original
    assert await box.store.get(second) == await box.store.get(original)

    deleted = await box.double.click(box.channel, clip.id, f"reelbot:delete:{job_id}", box.member)
    await box.double.wait_for(lambda: bool(deleted.followups), 20)

    assert await gone(box, original)  # the deleted clip's input went with it
    assert not await gone(box, second)  # the Re-roll's own copy stays


async def test_a_refusals_image_waits_for_an_appeal_then_goes(box: Box) -> None:
    await moderated(box)
    refused = await ask_with_image(box, "a porn set")
    appeal_id = buttons(refused.followups[0])[0].split(":")[-1]
    pending = await box.parts.approvals.get(appeal_id)
    assert pending is not None and pending.request is not None
    ref = pending.request.image_ref
    key = box.queue.keys.input_expiry()
    due = await box.queue.redis.zscore(key, ref)
    assert due is not None and 23 * 3600 < due - time.time() <= 24 * 3600  # the appeal window
    assert 23 * 3600 < await box.queue.redis.ttl(box.queue.keys.approval(appeal_id)) <= 24 * 3600

    await box.queue.redis.zadd(key, {ref: time.time() - 1})  # the day has passed, unappealed
    assert await box.parts.inputs.sweep() == 1
    assert await gone(box, ref) and await box.queue.redis.zscore(key, ref) is None


async def test_an_appealed_then_approved_request_keeps_its_image_for_its_job(box: Box) -> None:
    review = await moderated(box)
    refused = await ask_with_image(box, "a porn set")
    message = refused.followups[0]
    appeal_id = buttons(message)[0].split(":")[-1]
    sent = await box.double.click(box.channel, message.id, f"reelbot:appeal:{appeal_id}", box.member)
    await box.double.wait_for(lambda: bool(sent.followups), 20)
    ref = (await box.parts.approvals.get(appeal_id)).request.image_ref  # type: ignore[union-attr]
    key = box.queue.keys.input_expiry()
    assert (await box.queue.redis.zscore(key, ref)) - time.time() > 6 * 24 * 3600  # the moderators' week

    card = await box.double.wait_for_message(review, lambda m: bool(m.components), 20)
    approved = await box.double.click(review, card.id, f"reelbot:approve:{appeal_id}", box.moderator)
    await box.double.wait_for(lambda: bool(approved.followups), 20)
    assert "is queued" in reply_text(approved)
    assert await box.queue.redis.zscore(key, ref) is None  # its job owns it now
    assert await box.parts.inputs.sweep() == 0 and not await gone(box, ref)


async def test_a_rejected_request_loses_its_image(box: Box) -> None:
    review = await moderated(box, before_generation="every")
    asked = await ask_with_image(box, "the cat wakes up")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await box.double.wait_for_message(review, lambda m: bool(m.components), 20)
    ref = (await box.parts.approvals.get(f"r{job_id}")).request.image_ref  # type: ignore[union-attr]
    opened = await box.double.click(review, card.id, f"reelbot:reject:r{job_id}", box.moderator)
    await box.double.wait_for(lambda: bool(opened.responses), 20)
    rejected = await box.double.submit_modal(
        review, f"reelbot:reject-form:r{job_id}", {"reason": "no cats today"}, box.moderator, box.guild
    )
    await box.double.wait_for(lambda: bool(rejected.followups), 20)
    assert await gone(box, ref)
