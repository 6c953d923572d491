"""/history through the Discord double and the real discord.py client: a member's posted clips,
newest first, paged with buttons; their own for members, anyone's for moderators; clips that were
deleted (or never posted) are not listed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.jobs import ClipState, JobBook
from tests.bot_box import Box, answered, buttons, reply_text
from tests.conftest import make_job

pytestmark = pytest.mark.timeout(300)


async def history(box: Box, user: int, **options: Any) -> Any:
    interaction = await box.double.slash(box.guild, box.channel, user, "history", options)
    await answered(box, interaction)
    return interaction


async def queued(box: Box, prompt: str) -> str:
    reply = await answered(box, await box.video(prompt=prompt))
    assert "Queued `" in reply, reply
    return reply.split("Queued `")[1].split("`")[0]


async def test_history_lists_posted_clips_with_links_and_leaves_deleted_ones_out(box: Box) -> None:
    kept = await queued(box, "a paper boat on a pond")
    kept_message = await box.clip_message(kept, 90)
    gone = await queued(box, "a lighthouse at dawn")
    gone_message = await box.clip_message(gone, 90)
    delete = await box.double.click(box.channel, gone_message.id, f"reelbot:delete:{gone}", box.member)
    await box.double.wait_for(lambda: bool(delete.followups or delete.responses[1:]), 20)

    text = reply_text(await history(box, box.member))
    assert "a paper boat on a pond" in text and f"/{box.channel}/{kept_message.id})" in text
    assert "lighthouse" not in text  # deleted with the Delete button
    record = await box.queue.get(kept)
    assert record.clip() is not None and f"seed {record.clip().seed}" in text  # type: ignore[union-attr]
    assert "`cogvideox-5b`" in text and "<t:" in text

    # another member has their own (empty) history, and cannot list the member's
    assert "You have no posted videos" in reply_text(await history(box, box.other))
    refused = reply_text(await history(box, box.other, member=box.member))
    assert "moderator" in refused and "paper boat" not in refused
    # a moderator can
    assert "paper boat" in reply_text(await history(box, box.moderator, member=box.member))
    assert box.double.violations == []


async def test_history_pages_newest_first_with_buttons(box: Box) -> None:
    jobs = JobBook(box.queue, box.store)
    made = []
    for n in range(7):  # posted clips of the member, recorded as delivery records them
        job = make_job(str(box.guild), str(box.member), prompt=f"clip number {n}", channel=str(box.channel))
        await box.queue.enqueue(job)
        await jobs.record_posted(job, str(9_000_000 + n))
        made.append(job)
    held = make_job(str(box.guild), str(box.member), prompt="a held clip", channel=str(box.channel))
    await box.queue.enqueue(held)
    await jobs.record_posted(held, "9100000")
    await jobs.remove_clip(held, ClipState.REJECTED, "a moderator said no")  # taken down after posting

    first = await history(box, box.member)
    page_one = reply_text(first)
    assert "page 1 of 2, 7 in all" in page_one and "held clip" not in page_one
    numbers = [int(n) for n in re.findall(r"clip number (\d)", page_one)]
    assert numbers == [6, 5, 4, 3, 2]  # newest first, five per page
    message = first.followups[0]
    assert buttons(message) == [f"reelbot:history:{box.member}p2"]

    older = await box.double.click(box.channel, message.id, f"reelbot:history:{box.member}p2", box.member)
    await box.double.wait_for(lambda: bool(older.responses), 20)
    update = older.responses[0]
    assert update["type"] == 7  # the same message, edited in place
    page_two = str(update["data"]["content"])
    assert "page 2 of 2" in page_two and re.findall(r"clip number (\d)", page_two) == ["1", "0"]
    assert [c["custom_id"] for row in update["data"]["components"] for c in row["components"]] == [
        f"reelbot:history:{box.member}p1"
    ]

    # a page button pressed by someone else (a crafted click) is asked of the access policy too
    crafted = await box.double.click(box.channel, message.id, f"reelbot:history:{box.member}p1", box.other)
    await box.double.wait_for(lambda: bool(crafted.responses), 20)
    said = str(crafted.responses[0].get("data", {}).get("content")) + reply_text(crafted)
    assert "moderator" in said and "clip number" not in said
    assert box.double.violations == []
