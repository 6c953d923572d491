"""``/video takes:``: several versions of one request, each its own job, seed and clip; judged
together against the member's limits, and shared fairly with other members' jobs."""

from __future__ import annotations

import re

from inference.contract import ModelId
from tests.bot_box import Box, answered

LANE = ModelId.COGVIDEOX_5B.value


def queued_ids(reply: str) -> list[str]:
    """The job ids a "Queued ..." reply names, in order."""
    return re.findall(r"`([0-9a-z]{6,32})`", reply.split("each with its own seed")[0])


async def test_three_takes_are_three_clips_each_with_its_seed_and_its_take_on_the_card(box: Box) -> None:
    assert "Changed" in await box.ask(box.admin, "settings limits", rate=0, active=0)
    reply = await answered(box, await box.video(prompt="a paper boat on a pond", takes=3, seed=40))
    assert reply.startswith("Queued 3 takes with `cogvideox-5b`"), reply
    ids = queued_ids(reply)
    assert len(ids) == 3 and len(set(ids)) == 3
    seeds = [(await box.queue.get(job_id)).spec.seed for job_id in ids]
    assert seeds == [40, 41, 42]  # a seed asked for starts the takes; each take goes one on
    for number, job_id in enumerate(ids, 1):
        clip = await box.clip_message(job_id, 120)
        fields = {f["name"]: f["value"] for f in clip.embeds[0]["fields"]}
        assert fields["Take"] == f"{number} of 3"
        assert fields["Seed"] == str(seeds[number - 1])
    assert box.double.violations == []


async def test_takes_over_the_members_allowance_are_refused_and_none_is_queued(box: Box) -> None:
    assert "Changed" in await box.ask(box.admin, "settings limits", rate=0, active=3)
    reply = await answered(box, await box.video(prompt="a kite", takes=4))
    assert "the limit on this server is 3" in reply, reply
    assert "You asked for 4 takes" in reply and "fewer takes" in reply
    assert await box.queue.redis.zcard(box.queue.keys.member_jobs(str(box.guild), str(box.member))) == 0
    # three fit
    reply = await answered(box, await box.video(prompt="a kite", takes=3))
    assert reply.startswith("Queued 3 takes"), reply
    assert box.double.violations == []


async def test_another_members_job_is_claimed_before_the_fourth_take(box: Box) -> None:
    assert "Changed" in await box.ask(box.admin, "settings limits", rate=0, active=0)
    await box.stop_worker()  # the jobs wait, so the order they are claimed in can be read
    many = queued_ids(await answered(box, await box.video(prompt="a red kite", takes=4)))
    one = (await answered(box, await box.video(box.other, prompt="a blue kite"))).split("`")[1]
    order = [lease.job_id for _ in range(5) for lease in await box.queue.claim("test", [LANE], 1)]
    assert sorted(order) == sorted([*many, one])
    assert order.index(one) < order.index(many[3]), order
    assert order.index(one) <= 1, order  # fair sharing: the other member is next, not last
