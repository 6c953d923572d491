"""Fair claiming: round-robin across guilds, then across members, with optional weights."""

from __future__ import annotations

from collections import Counter

from inference.contract import ModelId
from inference.jobqueue import JobQueue
from tests.conftest import make_job

LANE = ModelId.COGVIDEOX_2B.value


async def enqueue_many(queue: JobQueue, count: int, **kwargs: object) -> list[str]:
    ids = []
    for _ in range(count):
        ids.append((await queue.enqueue(make_job(**kwargs))).job.id)  # type: ignore[arg-type]
    return ids


async def claim_ids(queue: JobQueue, n: int) -> list[str]:
    out = []
    for _ in range(n):
        out += [lease.job_id for lease in await queue.claim("w", [LANE])]
    return out


async def test_a_guild_with_one_job_is_not_starved_by_a_busy_guild(queue: JobQueue) -> None:
    await enqueue_many(queue, 100, guild="111", user="1")
    [late] = await enqueue_many(queue, 1, guild="222", user="2")
    assert late in await claim_ids(queue, 2)


async def test_the_same_inside_a_guild_between_members(queue: JobQueue) -> None:
    await enqueue_many(queue, 100, guild="111", user="1")
    [late] = await enqueue_many(queue, 1, guild="111", user="2")
    assert late in await claim_ids(queue, 2)


async def test_a_newcomer_is_served_soon_after_the_busy_guild_has_been_served(queue: JobQueue) -> None:
    busy = await enqueue_many(queue, 100, guild="111", user="1")
    assert await claim_ids(queue, 30) == busy[:30]
    [late] = await enqueue_many(queue, 1, guild="222", user="2")
    assert late in await claim_ids(queue, 2)


async def test_guilds_alternate_and_members_alternate_within_them(queue: JobQueue) -> None:
    for guild, user in [("1", "11"), ("1", "12"), ("2", "21")]:
        await enqueue_many(queue, 4, guild=guild, user=user)
    records = [await queue.get(job_id) for job_id in await claim_ids(queue, 12)]
    guilds = [r.guild_id for r in records]
    assert guilds[:8] == ["1", "2"] * 4  # the guilds take turns while both have jobs
    members_of_1 = [r.user_id for r in records if r.guild_id == "1"]
    assert members_of_1[:4] in (["11", "12"] * 2, ["12", "11"] * 2)


async def test_weight_gives_a_member_a_proportional_share_within_the_guild(queue: JobQueue) -> None:
    await enqueue_many(queue, 60, guild="1", user="2", weight=2.0)
    await enqueue_many(queue, 60, guild="1", user="1", weight=1.0)
    records = [await queue.get(job_id) for job_id in await claim_ids(queue, 30)]
    share = Counter(r.user_id for r in records)
    assert share == {"2": 20, "1": 10}


async def test_weights_do_not_buy_a_guild_a_larger_share(queue: JobQueue) -> None:
    # a guild whose tiers give everyone weight 10 still takes turns one for one
    await enqueue_many(queue, 40, guild="1", user="2", weight=10.0)
    await enqueue_many(queue, 40, guild="2", user="1", weight=1.0)
    records = [await queue.get(job_id) for job_id in await claim_ids(queue, 30)]
    assert Counter(r.guild_id for r in records) == {"1": 15, "2": 15}


async def test_lanes_are_independent(queue: JobQueue) -> None:
    await enqueue_many(queue, 10, guild="1", user="1", model=ModelId.COGVIDEOX_5B)
    [job] = await enqueue_many(queue, 1, guild="1", user="1")
    assert await claim_ids(queue, 1) == [job]
