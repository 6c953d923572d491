"""Community limits end to end: the real bot, the Discord double, real Redis, a tiny-model worker."""

from __future__ import annotations

import asyncio
import re

import pytest

from inference.contract import JobStatus, ModelId
from tests.bot_box import Box, reply_text

pytestmark = pytest.mark.timeout(240)

LANE = ModelId.COGVIDEOX_5B.value
TIMESTAMP = re.compile(r"<t:\d+:R>")


async def waiting_jobs(box: Box) -> int:
    return (await box.queue.depth()).get("all", 0)


async def until_quota(box: Box, job_id: str, state: str, timeout: float = 30) -> None:
    """Wait until the job's daily-quota hold is ``charged`` or ``refunded``."""
    key = box.queue.keys.job(job_id)
    for _ in range(int(timeout / 0.05)):
        if await box.queue.redis.hget(key, "quota") == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id}'s quota never became {state}")


async def busy_worker(box: Box) -> None:
    """Stop the real worker, and announce a live one that never claims: jobs wait, with ETAs."""
    await box.stop_worker()
    await box.queue.register_worker("gpu-busy", [LANE], {})


async def test_100_concurrent_videos_from_one_member_queue_exactly_the_allowed_number(box: Box) -> None:
    await busy_worker(box)
    interactions = await asyncio.gather(*(box.video(prompt=f"a bee, take {i}") for i in range(100)))
    await box.double.wait_for(lambda: all(i.followups for i in interactions), 60)
    replies = [reply_text(i) for i in interactions]
    queued = [r for r in replies if r.startswith("Queued `")]
    refused = [r for r in replies if not r.startswith("Queued `")]
    assert len(queued) == 2  # the default: 2 waiting or rendering per member
    assert await waiting_jobs(box) == 2
    for text in refused:
        assert "limit on this server is 2" in text or "cooldown" in text, text
        assert TIMESTAMP.search(text), text  # when to try again
        assert text.endswith("Nothing you had queued was changed.")
    assert any("cooldown" in text for text in refused)  # 98 refusals in a row start one
    # the member's two queued jobs are untouched, and another member is not affected
    assert len(await box.parts.jobs.member_jobs(str(box.guild), str(box.member))) == 2
    assert (await box.ask(box.other, "video", prompt="my turn")).startswith("Queued `")
    assert box.double.violations == []


async def test_the_daily_quota_counts_posted_clips_and_refunds_the_rest(box: Box) -> None:
    assert "Changed" in await box.ask(box.admin, "settings limits", server_daily=1)
    # a clip Discord refuses to take (a missing permission) is not charged
    await box.stop_worker()
    first = await box.ask(box.member, "video", prompt="never posted")
    first_id = first.split("`")[1]
    await box.double.wait_for_message(box.channel, lambda m: not m.flags & 64 and first_id in m.content)
    box.double.fail_next("POST", "/channels/*/messages", 403)
    box.start_worker()
    await until_quota(box, first_id, "refunded")
    assert (await box.queue.get(first_id)).status is JobStatus.SUCCEEDED
    # a posted clip is charged, and then the server's day is used up
    second = await box.ask(box.member, "video", prompt="a bee on a flower")
    second_id = second.split("`")[1]
    await box.clip_message(second_id)
    await until_quota(box, second_id, "charged")
    refused = await box.ask(box.other, "video", prompt="one more")
    assert "This server has had its 1 video for today" in refused
    assert TIMESTAMP.search(refused)
    assert "This server's clips today: 1 of 1" in await box.ask(box.member, "limits")
    assert box.double.violations == []


async def test_role_tiers_and_moderator_exemption(box: Box) -> None:
    await busy_worker(box)
    await box.ask(box.admin, "settings limits", active=1, rate=100)
    patrons = box.double.add_role(box.guild, "patrons")
    box.double.give_role(box.guild, box.member, patrons)
    shown = await box.ask(box.admin, "settings tier", role=patrons, active=3, weight=2.0)
    assert f"<@&{patrons}>: active 3, queue weight 2" in shown
    replies = [await box.ask(box.member, "video", prompt=f"patron {i}") for i in range(4)]
    assert [r.startswith("Queued") for r in replies] == [True, True, True, False]
    assert "the limit on this server is 3" in replies[3]
    job = await box.queue.get(replies[0].split("`")[1])
    assert job.weight == 2.0  # a bigger share of this server's turns
    # a member without the role has the server's limit
    assert (await box.ask(box.other, "video", prompt="plain 1")).startswith("Queued")
    assert "the limit on this server is 1" in await box.ask(box.other, "video", prompt="plain 2")
    # the role taken away: back to the server's limits at the next request
    box.double.take_role(box.guild, box.member, patrons)
    assert "the limit on this server is 1" in await box.ask(box.member, "video", prompt="patron 5")
    # moderators: limited by default, exempt when the admins say so
    assert (await box.ask(box.moderator, "video", prompt="mod 1")).startswith("Queued")
    assert "the limit on this server is 1" in await box.ask(box.moderator, "video", prompt="mod 2")
    await box.ask(box.admin, "settings limits", exempt_moderators=True)
    assert (await box.ask(box.moderator, "video", prompt="mod 3")).startswith("Queued")
    assert "exempt" in await box.ask(box.moderator, "limits")
    assert box.double.violations == []


async def test_settings_need_manage_server_and_survive_a_restart(box: Box) -> None:
    refused = await box.ask(box.member, "settings limits", rate=500)
    assert "needs the Manage Server permission" in refused
    assert "Videos per member per period: **5** (default)" in await box.ask(box.admin, "settings show")
    await box.ask(box.admin, "settings limits", rate=2, rate_minutes=30)
    await box.stop_bot()
    await box.start_bot()
    shown = await box.ask(box.admin, "settings show")
    assert "Videos per member per period: **2** (set here)" in shown
    assert "Period, in minutes: **30** (set here)" in shown
    await box.stop_worker()  # keep the active cap out of the way: the rate limit refuses the third
    await box.ask(box.admin, "settings limits", active=0)
    for i in range(2):
        assert (await box.ask(box.member, "video", prompt=f"take {i}")).startswith("Queued")
    third = await box.ask(box.member, "video", prompt="take 3")
    assert "You have asked for 2 videos in the last 30 minutes" in third and TIMESTAMP.search(third)
    entries = await box.parts.audit.recent(str(box.guild))
    assert [e.action for e in entries] == ["limits", "limits"]  # the refused attempt changed nothing
    assert entries[-1].actor_id == str(box.admin)
    assert box.double.violations == []


async def test_blocked_members_are_refused_with_the_reason(box: Box) -> None:
    await box.stop_worker()
    kept = (await box.ask(box.member, "video", prompt="queued before the block")).split("`")[1]
    assert "needs the Manage Messages permission" in await box.ask(
        box.other, "blocklist add", member=box.member, reason="spam"
    )
    done = await box.ask(box.moderator, "blocklist add", member=box.member, reason="posting spam")
    assert "Blocked" in done
    refused = await box.ask(box.member, "video", prompt="after the block")
    assert "A moderator has blocked you from making videos on this server (reason: posting spam)" in refused
    assert (await box.queue.get(kept)).status is JobStatus.QUEUED  # what was queued is left alone
    assert "posting spam" in await box.ask(box.moderator, "blocklist show")
    assert "blocked you" in await box.ask(box.member, "limits")
    assert "Unblocked" in await box.ask(box.moderator, "blocklist remove", member=box.member)
    assert (await box.ask(box.member, "video", prompt="after the unblock")).startswith("Queued")
    entries = await box.parts.audit.recent(str(box.guild))
    assert [(e.action, e.target) for e in entries[:2]] == [
        ("unblock", str(box.member)),
        ("block", str(box.member)),
    ]
    assert box.double.violations == []


async def test_limits_shows_the_remaining_allowance(box: Box) -> None:
    await busy_worker(box)
    await box.ask(box.member, "video", prompt="one")
    text = await box.ask(box.member, "limits")
    assert "Videos: 4 of 5 left per 1 hour" in text
    assert "Waiting or rendering: 1 of 2" in text
    assert "This server's clips today: 1 of 100" in text
    assert box.double.violations == []
