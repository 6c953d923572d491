"""The ``reelbot`` command.

    reelbot run             Redis (started locally when none is configured) + the queue service
    reelbot queue status    depth per lane and guild, running jobs, live workers
    reelbot queue check     Redis version and durability settings
    reelbot queue reap      reclaim expired leases once
    reelbot queue cancel ID cancel one job

This module is the one place that reads the environment; heavy imports happen inside
the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from inference.contract import ModelId
from inference.jobqueue import JobQueue, QueueError, QueueSettings, check_server, connect
from inference.jobqueue import loop as event_loop
from inference.jobqueue.localredis import RedisServer, ping

log = logging.getLogger("reelbot")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reelbot`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("REELBOT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = QueueSettings.from_env(os.environ)
    except ValueError as exc:
        print(f"reelbot: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        code: int = event_loop.run(
            args.handler(args, settings), loop=os.environ.get("REELBOT_EVENT_LOOP", "auto")
        )
    except (QueueError, ValueError) as exc:
        print(f"reelbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelbot", description="Reelbot: Discord videos from CogVideoX.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run Reelbot on this box (starts Redis when none is configured)")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="where a local Redis keeps its AOF")
    run.set_defaults(handler=_run)
    queue = sub.add_parser("queue", help="inspect and maintain the job queue")
    qsub = queue.add_subparsers(dest="action", required=True)
    status = qsub.add_parser("status", help="queue depth, running jobs and live workers")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(handler=_status)
    qsub.add_parser("check", help="check Redis version and durability settings").set_defaults(handler=_check)
    qsub.add_parser("reap", help="reclaim expired leases now").set_defaults(handler=_reap)
    cancel = qsub.add_parser("cancel", help="cancel one job")
    cancel.add_argument("job_id")
    cancel.set_defaults(handler=_cancel)
    return parser


async def _status(args: argparse.Namespace, settings: QueueSettings) -> int:
    async with connect(settings.redis_url) as redis:
        queue = JobQueue(redis, settings)
        depth = await queue.depth()
        lanes = [await queue.lane_stats(m.value) for m in ModelId]
        running = await queue.running()
    guilds = {k.removeprefix("guild:"): v for k, v in depth.items() if k.startswith("guild:")}
    report = {
        "queued": depth.get("all", 0),
        "running": running,
        "lanes": {s.lane: {"queued": s.depth, "workers": s.workers} for s in lanes},
        "guilds": guilds,
    }
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(f"queued {report['queued']}, running {report['running']}")
    for s in lanes:
        print(f"  {s.lane:<22} queued {s.depth:>5}  workers {s.workers}")
    busiest = sorted(guilds.items(), key=lambda kv: -kv[1])[:10]
    for guild, count in busiest:
        print(f"  guild {guild}: {count} queued")
    return 0


async def _check(args: argparse.Namespace, settings: QueueSettings) -> int:
    async with connect(settings.redis_url) as redis:
        warnings = await check_server(redis)
    for warning in warnings:
        print(f"warning: {warning}")
    if not warnings:
        print("Redis is set up for Reelbot: AOF everysec, noeviction.")
    return 0


async def _reap(args: argparse.Namespace, settings: QueueSettings) -> int:
    async with connect(settings.redis_url) as redis:
        result = await JobQueue(redis, settings).reap(limit=10_000)
    print(f"requeued {result.requeued}, failed {result.failed}, cancelled {result.cancelled}")
    return 0


async def _cancel(args: argparse.Namespace, settings: QueueSettings) -> int:
    async with connect(settings.redis_url) as redis:
        print(await JobQueue(redis, settings).cancel(args.job_id))
    return 0


async def _run(args: argparse.Namespace, settings: QueueSettings) -> int:
    server = None
    if "REDIS_URL" not in os.environ and not ping(6379):
        server = RedisServer(args.data_dir.resolve() / "redis", 6379).start()
        log.info("started a local redis-server on 127.0.0.1:6379 (data in %s)", server.data_dir)
    try:
        async with connect(settings.redis_url) as redis:
            for warning in await check_server(redis):
                log.warning("%s", warning)
            await _serve_queue(JobQueue(redis, settings))
    finally:
        if server is not None:
            server.stop()
    return 0


async def _serve_queue(queue: JobQueue) -> None:
    """Reap expired leases and log the queue's state until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("queue service running (namespace %s); Ctrl-C stops it", queue.settings.namespace)
    ticks = 0
    while not stop.is_set():
        await queue.reap()
        if ticks % 30 == 0:
            depth = await queue.depth()
            log.info("queue: %d queued, %d running", depth.get("all", 0), await queue.running())
        ticks += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=queue.settings.reap_interval_seconds)
    log.info("queue service stopped")
