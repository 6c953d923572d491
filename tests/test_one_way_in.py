"""The holes a hostile member found, each reproduced end to end and shut: every entry point goes
through the one request pipeline and the one access policy.

The real discord.py bot against the Discord double, a tiny-model worker, real Redis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import discord
import pytest

from bot.jobs import ClipState
from inference.contract import JobStatus
from inference.storage import BlobNotFound
from tests.bot_box import Box, answered, buttons, moderated, reply_text, review_message
from tests.discord_double import MANAGE_GUILD

pytestmark = pytest.mark.timeout(240)

UNKNOWN = "I know no job `{}` in this server"


async def queued(box: Box, user: int | None = None, **options: Any) -> str:
    """Run /video; returns the job id."""
    reply = await answered(box, await box.video(user, **options))
    assert "Queued `" in reply, reply
    return reply.split("Queued `")[1].split("`")[0]


async def press(box: Box, message: Any, action: str, job_id: str, user: int) -> Any:
    interaction = await box.double.click(message.channel_id, message.id, f"reelbot:{action}:{job_id}", user)
    await box.double.wait_for(lambda: bool(interaction.responses), 20)
    return interaction


def said(interaction: Any) -> str:
    """Everything the bot told the presser: its first response and its follow-ups."""
    first = [str(r.get("data", {}).get("content") or "") for r in interaction.responses]
    return "\n".join([*first, reply_text(interaction)])


async def test_a_job_id_from_another_guild_is_unknown_everywhere(box: Box) -> None:
    await box.stop_worker()  # the job stays queued while the other guild tries it
    job_id = await queued(box, prompt="a lighthouse at dawn")
    # an attacker's own guild, where they have every permission
    theirs = box.double.add_guild("attackers")
    lobby = box.double.add_channel(theirs, "lobby")
    attacker = box.double.add_member(theirs, "mallory", moderator=True)
    box.double.give_role(theirs, attacker, box.double.add_role(theirs, "owners", permissions=MANAGE_GUILD))
    box.bot.tree.copy_global_to(guild=discord.Object(theirs))  # type: ignore[union-attr]
    await box.bot.tree.sync(guild=discord.Object(theirs))  # type: ignore[union-attr]

    replies = {}
    for command in ("cancel", "job"):
        option = {"job": job_id} if command == "cancel" else {"id": job_id}
        interaction = await box.double.slash(theirs, lobby, attacker, command, option)
        replies[command] = await answered(box, interaction)

    assert UNKNOWN.format(job_id) in replies["cancel"] and UNKNOWN.format(job_id) in replies["job"]
    assert (await box.queue.get(job_id)).status is JobStatus.QUEUED  # not cancelled
    # the same words for an id that exists nowhere: the reply does not tell them apart
    nowhere = await answered(
        box, await box.double.slash(theirs, lobby, attacker, "cancel", {"job": "zzzzzzzzzzzz"})
    )
    assert UNKNOWN.format("zzzzzzzzzzzz") in nowhere
    assert box.double.violations == []


async def test_job_serves_a_clip_only_where_moderation_allowed_it(box: Box) -> None:
    review = await moderated(box, review_at=0, block_at=100)  # every clip flagged, none blocked

    held_id = await queued(box, prompt="a red kite")
    card = await review_message(box, review, 90)
    member_view = await answered(
        box, await box.double.slash(box.guild, box.channel, box.other, "job", {"id": held_id})
    )
    moderator_view = await box.double.slash(box.guild, box.channel, box.moderator, "job", {"id": held_id})
    await box.double.wait_for(lambda: bool(moderator_view.followups), 20)
    assert "waits for a moderator's approval" in member_view
    assert not any(m.attachments for m in box.double.messages(box.channel) if job_in(m, held_id))
    shown = moderator_view.followups[0]
    assert shown.attachments[0]["filename"] == f"SPOILER_reelbot-{held_id}.mp4"
    assert "the content filter flagged the clip" in shown.content  # with the reason

    # rejected: gone from storage, and /job says so
    clip_ref = (await box.queue.get(held_id)).clip().clip_ref  # type: ignore[union-attr]
    opened = await box.double.click(review, card.id, f"reelbot:reject:c{held_id}", box.moderator)
    await box.double.wait_for(lambda: bool(opened.responses), 20)
    rejected = await box.double.submit_modal(
        review, f"reelbot:reject-form:c{held_id}", {"reason": "not here"}, box.moderator, box.guild
    )
    await box.double.wait_for(lambda: bool(rejected.followups), 20)
    after = await answered(
        box, await box.double.slash(box.guild, box.channel, box.member, "job", {"id": held_id})
    )
    assert "did not approve the clip" in after
    with pytest.raises(BlobNotFound):
        await box.store.get(clip_ref)
    assert (await box.parts.jobs.notes(held_id)).clip_state is ClipState.REJECTED
    assert box.double.violations == []


async def test_a_refused_clip_is_removed_and_never_served(box: Box) -> None:
    await moderated(box, review_at=0, block_at=0)  # every clip blocked

    job_id = await queued(box, prompt="a red kite")
    await box.double.wait_for_message(
        box.channel, lambda m: "was not posted" in m.content and job_id in m.content, 90
    )
    shown = await answered(
        box, await box.double.slash(box.guild, box.channel, box.other, "job", {"id": job_id})
    )

    assert "was not posted" in shown and "not kept" in shown
    assert all(not m.attachments for m in box.double.messages(box.channel) if job_in(m, job_id))
    with pytest.raises(BlobNotFound):
        await box.store.get((await box.queue.get(job_id)).clip().clip_ref)  # type: ignore[union-attr]
    assert box.double.violations == []


async def test_a_deleted_clip_is_gone_from_storage_and_a_second_delete_is_answered(box: Box) -> None:
    job_id = await queued(box, prompt="a paper boat")
    clip = await box.clip_message(job_id, 90)
    ref = (await box.queue.get(job_id)).clip().clip_ref  # type: ignore[union-attr]

    # the requester and a moderator press Delete at the same moment
    mine, theirs = await asyncio.gather(
        box.double.click(box.channel, clip.id, f"reelbot:delete:{job_id}", box.member),
        box.double.click(box.channel, clip.id, f"reelbot:delete:{job_id}", box.moderator),
    )
    await box.double.wait_for(lambda: all(said(i).strip() for i in (mine, theirs)), 20)
    shown = await answered(
        box, await box.double.slash(box.guild, box.channel, box.other, "job", {"id": job_id})
    )

    texts = sorted([said(mine), said(theirs)])
    assert any(f"Deleted the clip of `{job_id}`." in t for t in texts)
    assert any("was already deleted by" in t for t in texts)
    assert clip.deleted and "was deleted by" in shown
    with pytest.raises(BlobNotFound):
        await box.store.get(ref)
    assert box.double.violations == []  # no second DELETE of a message already gone


async def test_reroll_and_remix_by_a_paused_member_or_outside_the_video_channels_are_refused(
    box: Box,
) -> None:
    job_id = await queued(box, prompt="a paper boat")
    clip = await box.clip_message(job_id, 90)
    for word in ("porn", "xxx", "hentai"):  # three blocks: the filter pauses the other member
        await answered(box, await box.video(box.other, prompt=f"a {word} scene"))

    reroll = await press(box, clip, "reroll", job_id, box.other)
    await box.double.wait_for(lambda: bool(reroll.followups), 20)
    await press(box, clip, "remix", job_id, box.other)
    remix = await box.double.submit_modal(
        box.channel, f"reelbot:remix-form:{job_id}", {"prompt": "a paper plane"}, box.other, box.guild
    )
    await box.double.wait_for(lambda: bool(remix.followups), 20)
    assert "you are paused until" in said(reroll) and "you are paused until" in said(remix)

    elsewhere = box.double.add_channel(box.guild, "gallery")
    assert "updated" in await box.ask(box.admin, "settings channels", add=elsewhere)
    outside = await press(box, clip, "reroll", job_id, box.member)
    await box.double.wait_for(lambda: bool(outside.followups), 20)
    assert f"Videos are made in <#{elsewhere}>" in said(outside)
    assert len(await box.parts.jobs.member_jobs(str(box.guild), str(box.other))) == 0
    assert box.double.violations == []


async def test_a_reroll_of_a_flagged_request_goes_back_to_a_moderator(box: Box) -> None:
    review = await moderated(box, before_generation="flagged")
    asked = await answered(box, await box.video(prompt="a nude marble statue in a museum"))
    job_id = asked.split("`")[1]
    card = await review_message(box, review)
    approved = await box.double.click(review, card.id, f"reelbot:approve:r{job_id}", box.moderator)
    await box.double.wait_for(lambda: bool(approved.followups), 20)
    clip = await box.clip_message(job_id, 90)
    # the word list changes so that the same words pass now: the original's flag still counts
    assert "updated" in await box.ask(box.admin, "settings words", allow="nude marble statue")

    reroll = await press(box, clip, "reroll", job_id, box.other)
    await box.double.wait_for(lambda: bool(reroll.followups), 20)
    second = await box.double.wait_for_message(review, lambda m: bool(m.components) and m.id != card.id, 30)

    assert "waits for a moderator's approval" in said(reroll) and "nude" in said(reroll)
    assert second.embeds[0]["fields"][0]["value"] == f"<@{box.other}>"
    assert len(await box.parts.jobs.member_jobs(str(box.guild), str(box.other))) == 0  # nothing queued yet
    assert box.double.violations == []


async def test_a_reroll_is_screened_with_the_current_word_list(box: Box) -> None:
    job_id = await queued(box, prompt="a swarm of wasps")
    clip = await box.clip_message(job_id, 90)
    assert "updated" in await box.ask(box.admin, "settings words", block="wasps")

    mine = await press(box, clip, "reroll", job_id, box.member)
    theirs = await press(box, clip, "reroll", job_id, box.other)
    await box.double.wait_for(lambda: bool(mine.followups and theirs.followups), 20)

    assert "cannot be made here" in said(mine) and "wasps" in said(mine)
    assert "cannot be made again here" in said(theirs)  # someone else's words: no strike for them
    assert (await box.parts.moderation.standing(str(box.guild), str(box.other))).strikes == 0
    assert (await box.parts.moderation.standing(str(box.guild), str(box.member))).strikes == 1


async def test_a_negative_prompt_with_a_blocked_word_is_refused(box: Box) -> None:
    refused = await answered(box, await box.video(prompt="a quiet beach", negative="no gore, no porn"))
    flagged = await answered(box, await box.video(box.other, prompt="a quiet beach", negative="no gore"))

    assert "cannot be made here: in the negative prompt" in refused and "Queued" not in refused
    assert "porn" in refused
    # a word that needs a moderator flags the request like the prompt's own words would; this
    # server approves flagged requests but has no review channel yet, so it cannot be made
    assert "needs a moderator's approval" in flagged and "Queued" not in flagged
    assert box.double.violations == []


async def test_an_appeal_double_click_spends_one_appeal(box: Box) -> None:
    review = await moderated(box)
    refused = await box.video(prompt="a porn set")
    await box.double.wait_for(lambda: bool(refused.followups), 20)
    message = refused.followups[0]
    appeal_id = buttons(message)[0].split(":")[-1]

    first, second = await asyncio.gather(
        box.double.click(box.channel, message.id, f"reelbot:appeal:{appeal_id}", box.member),
        box.double.click(box.channel, message.id, f"reelbot:appeal:{appeal_id}", box.member),
    )
    await box.double.wait_for(lambda: bool(first.followups and second.followups), 20)
    await review_message(box, review)
    day = int(time.time() // 86400)
    used = await box.queue.redis.get(box.queue.keys.appeals(str(box.guild), str(box.member), day))

    assert sorted([reply_text(first), reply_text(second)]) == sorted(
        ["Sent to the moderators. You will be mentioned in the channel when they decide.",
         "You already appealed this; the moderators will decide."]
    )  # fmt: skip
    assert used == "1"
    assert len([m for m in box.double.messages(review) if m.components]) == 1


def job_in(message: Any, job_id: str) -> bool:
    """A public message (not a private reply) about the job."""
    about = job_id in message.content or any(job_id in a["filename"] for a in message.attachments)
    return about and not message.flags & 64
