"""Bot latency against the Discord test double: Redis round trips, first response under load, delivery.

    python bench/bot.py                 # round trips, 100 concurrent /video, then 20 clips delivered
    python bench/bot.py --concurrent 200 --clips 40

0. **Round trips.** One text /video with enhancement off, from the interaction to the member's
   reply, with the bot's background loops stopped: every Redis round trip it makes, counted
   with :mod:`bench.round_trips` (a pipeline or a script call is one).
1. **First response.** 100 /video commands arrive at once; for each, the time from the
   double dispatching INTERACTION_CREATE to the bot's deferral reaching the double.
   Discord fails an interaction whose first response takes over 3 s. Also the time to the
   member's private reply (the whole request path: the pipeline, the enqueue, the status
   message), which is what the Redis round trips cost.
2. **Delivery.** Jobs are rendered one by one by a worker with the tiny pipeline. For each,
   the time from the `succeeded` event (Redis clock) to the clip message reaching the
   double (same machine, same clock), the 9-frame upload included.

Everything runs in one process on loopback: the real discord.py bot, the double, a
private redis-server, and the worker. Run from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from typing import Any

from bench.events import stream_end, wait_succeeded
from bench.round_trips import counting
from bot.app import ReelBot, point_at
from bot.compose import compose
from bot.guildconfig import GuildLimits
from bot.settings import BotSettings
from inference.contract import ModelId
from inference.daemon import Daemon
from inference.generator import Generator
from inference.jobqueue import JobQueue, QueueSettings, connect, new_job_id
from inference.jobqueue.localredis import RedisServer
from inference.pipelines import load_models
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from inference.tiny import make_tiny_model
from tests.discord_double import DiscordDouble


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def first_responses(
    double: DiscordDouble, guild: int, channel: int, members: list[int], n: int
) -> tuple[list[float], list[float], list[str]]:
    """Dispatch ``n`` /video at once; seconds from dispatch to the first response (the deferral)
    and to the member's reply (the job queued), each; and the job ids."""
    interactions = await asyncio.gather(
        *(
            double.slash(guild, channel, members[i % len(members)], "video", {"prompt": f"bench {i}"})
            for i in range(n)
        )
    )
    await double.wait_for(lambda: all(i.followups for i in interactions), 120)
    ids = [str(i.followups[0].content).split("`")[1] for i in interactions]
    first = [i.responses[0]["at"] - i.dispatched_at for i in interactions]
    # the reply is the first follow-up the bot sends with the interaction's token
    sent: dict[int, float] = {}
    for request in double.requests:
        for i in interactions:
            if request.path.startswith("/webhooks/") and i.token in request.path and i.id not in sent:
                sent[i.id] = request.time
    replies = [sent[i.id] - i.dispatched_at for i in interactions]
    return first, replies, ids


async def deliveries(
    double: DiscordDouble, queue: JobQueue, guild: int, channel: int, member: int, n: int
) -> list[float]:
    """Seconds from each job's `succeeded` event to its clip message in the channel."""
    seconds = []
    for i in range(n):
        last = await stream_end(queue)
        interaction = await double.slash(guild, channel, member, "video", {"prompt": f"clip {i}"})
        await double.wait_for(lambda i=interaction: bool(i.followups), 30)
        job_id = str(interaction.followups[0].content).split("`")[1]
        finished_at = (await wait_succeeded(queue, job_id, last)).at
        message = await double.wait_for_message(
            channel,
            lambda m, name=f"reelbot-{job_id}.mp4": any(a["filename"] == name for a in m.attachments),
            60,
        )
        seconds.append(message.created_at - finished_at)
    return seconds


async def round_trips(
    bot: ReelBot, double: DiscordDouble, guild: int, channel: int, member: int
) -> list[str]:
    """The Redis round trips of one text /video (enhancement off), the background loops stopped."""
    await bot.supervisor.stop()
    if bot.observer is not None:
        await bot.observer.stop()
    for i in range(2):  # warm: connections open, scripts loaded
        warm = await double.slash(guild, channel, member, "video", {"prompt": f"warm {i}"})
        await double.wait_for(lambda w=warm: bool(w.followups), 30)
    with counting() as trips:
        interaction = await double.slash(guild, channel, member, "video", {"prompt": "count me"})
        await double.wait_for(lambda: bool(interaction.followups), 30)
    bot.supervisor.start()
    return trips.commands


async def run(args: argparse.Namespace, redis_url: str, model_dir: Path) -> dict[str, Any]:
    qs = QueueSettings(
        redis_url=redis_url, namespace=f"bench-bot-{new_job_id()}", global_cap=100_000, guild_cap=100_000
    )
    async with DiscordDouble() as double, connect(redis_url) as redis:
        guild, channel = double.add_guild("bench"), 0
        channel = double.add_channel(guild, "videos")
        members = [double.add_member(guild, f"m{i}") for i in range(20)]
        settings = BotSettings(
            discord_token=double.token,
            api_base=double.api_base,
            gateway_url=double.gateway_url,
            cdn_origins=(double.cdn_origin,),
            dev_guild_id=guild,
            metrics_port=0,
            # every limit judged but none reached: the measured path includes the limit check
            # and every request is queued (bench/limits.py measures the check itself)
            limits=GuildLimits(rate=0, active=0, guild_daily=0, guild_queue=0, strikes=0),
        )
        point_at(settings)
        queue = JobQueue(redis, qs)
        store = RedisBlobStore.from_url(redis_url, qs.keys, ttl_seconds=600)
        bot = compose(settings, queue, store, models=[ModelId.COGVIDEOX_5B], guild_ready_timeout=0.05)
        # the tiny model renders noise, which the output filter scores up to about 0.5: keep the
        # filter out of the delivery measure (as the end-to-end tests do)
        await bot.parts.moderation.settings.change(str(guild), {"review_at": 0.9, "block_at": 0.98})
        running = asyncio.create_task(bot.start(double.token))
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        trips = await round_trips(bot, double, guild, channel, members[-1])
        first, replies, first_ids = await first_responses(double, guild, channel, members, args.concurrent)
        # the load test's jobs are not part of the delivery test: cancel them
        for job_id in first_ids:
            await queue.cancel(job_id)
        models = load_models(WorkerSettings(models=(str(model_dir),)))
        worker = Daemon(queue, store, Generator(models), WorkerSettings(metrics_port=0))
        serving = asyncio.create_task(worker.run())
        delivered = await deliveries(double, queue, guild, channel, members[0], args.clips)
        worker.stop()
        await serving
        await bot.close()
        await running
        await store.aclose()
        violations = list(double.violations)
    return {
        "round_trips": len(trips),
        "round_trip_commands": trips,
        "concurrent": args.concurrent,
        "first_response_p50_ms": percentile(first, 50) * 1000,
        "first_response_p99_ms": percentile(first, 99) * 1000,
        "first_response_max_ms": max(first) * 1000,
        "reply_p50_ms": percentile(replies, 50) * 1000,
        "reply_p99_ms": percentile(replies, 99) * 1000,
        "clips": args.clips,
        "delivery_p50_ms": statistics.median(delivered) * 1000,
        "delivery_max_ms": max(delivered) * 1000,
        "violations": violations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrent", type=int, default=100, help="/video commands dispatched at once")
    parser.add_argument("--clips", type=int, default=20, help="clips rendered and delivered one by one")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-") as tmp:
        model_dir = make_tiny_model(Path(tmp) / "tiny", ModelId.COGVIDEOX_5B)
        server = RedisServer(Path(tmp) / "redis", None).start()
        try:
            started = time.monotonic()
            result = asyncio.run(run(args, server.url, model_dir))
            result["wall_s"] = time.monotonic() - started
        finally:
            server.stop()
    commands = ", ".join(result["round_trip_commands"])
    print(f"Redis round trips of one text /video: {result['round_trips']} ({commands})")
    columns = ["concurrent /video", "first response p50", "p99", "max", "reply p50", "p99"]
    print("| " + " | ".join([*columns, "clips", "delivery p50", "max"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    ms = {k: f"{v:.0f} ms" for k, v in result.items() if k.endswith("_ms")}
    print(
        f"| {result['concurrent']} | {ms['first_response_p50_ms']} | {ms['first_response_p99_ms']} "
        f"| {ms['first_response_max_ms']} | {ms['reply_p50_ms']} | {ms['reply_p99_ms']} "
        f"| {result['clips']} | {ms['delivery_p50_ms']} "
        f"| {ms['delivery_max_ms']} |"
    )
    if result["violations"]:
        print(f"double violations: {result['violations'][:5]}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
