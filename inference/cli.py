"""The ``reelbot`` command: its parser, and the worker's and the queue's subcommands.

    reelbot run             one box: Redis (when none is configured), the bot and a GPU worker
    reelbot bot             the Discord bot alone
    reelbot queue serve     the queue's maintenance service alone (reaping, state logs)
    reelbot queue status    depth per lane and guild, running jobs, live workers
    reelbot queue check     Redis version and durability settings
    reelbot queue reap      reclaim expired leases once
    reelbot queue cancel ID cancel one job
    reelbot worker          the GPU inference daemon (also ``python -m inference``)
    reelbot generate TEXT   one clip through the queue and a worker, to check a GPU box
    reelbot make-tiny-model DIR   a tiny random-weight pipeline for smoke tests (--family wan, --like ID)

The command lives here, in the worker's package, and not in ``bot/``: the worker image runs
``reelbot worker`` (and ``reelbot run`` starts its worker as ``python -m inference``), and
neither may import the Discord bot, its settings or discord.py. Only ``run`` and ``bot`` reach
the bot, through ``bot/cli.py``, imported inside their handlers; tests/test_import_boundary.py
checks that the worker's paths load no module of the ``bot`` package.

This module is still the one place that reads the environment, with ``bot/cli.py`` for the
bot's own settings; heavy imports happen inside the subcommand that needs them.
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

from inference import logformat
from inference.contract import ModelId
from inference.jobqueue import JobQueue, QueueError, QueueSettings, check_server, connect
from inference.jobqueue import loop as event_loop
from inference.jobqueue.localredis import local_redis
from inference.settings import WorkerSettings

log = logging.getLogger("reelbot")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reelbot`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        logformat.configure(
            os.environ.get("REELBOT_LOG_LEVEL", "INFO"), os.environ.get("REELBOT_LOG_FORMAT", "text")
        )
        settings = QueueSettings.from_env(os.environ)
        args.worker_settings = _worker_settings(args)
    except ValueError as exc:
        print(f"reelbot: configuration error: {exc}", file=sys.stderr)
        return 2
    from inference.metrics import PortInUse
    from inference.pipelines import ModelLoadError

    try:
        code: int = event_loop.run(
            args.handler(args, settings), loop=os.environ.get("REELBOT_EVENT_LOOP", "auto")
        )
    except (ModelLoadError, PortInUse) as exc:
        print(f"reelbot: cannot start: {exc}", file=sys.stderr)
        return 2
    except (QueueError, ValueError) as exc:
        print(f"reelbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelbot", description="Reelbot: Discord videos from CogVideoX.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run Reelbot on this box: Redis if needed, the bot and a GPU worker")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="where a local Redis keeps its AOF")
    run.set_defaults(handler=_run)
    sub.add_parser("bot", help="run the Discord bot alone").set_defaults(handler=_bot)
    queue = sub.add_parser("queue", help="inspect and maintain the job queue")
    qsub = queue.add_subparsers(dest="action", required=True)
    status = qsub.add_parser("status", help="queue depth, running jobs and live workers")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(handler=_status)
    qsub.add_parser("check", help="check Redis version and durability settings").set_defaults(handler=_check)
    qsub.add_parser("reap", help="reclaim expired leases now").set_defaults(handler=_reap)
    serve = qsub.add_parser("serve", help="reap expired leases and log the queue's state (no bot)")
    serve.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="where a local Redis keeps its AOF"
    )
    serve.set_defaults(handler=_serve)
    cancel = qsub.add_parser("cancel", help="cancel one job")
    cancel.add_argument("job_id")
    cancel.set_defaults(handler=_cancel)

    worker = sub.add_parser("worker", help="run the GPU inference daemon (models load once, stay warm)")
    _model_options(worker)
    worker.set_defaults(handler=_worker)
    gen = sub.add_parser("generate", help="render one clip through the queue and a worker")
    gen.add_argument("prompt", help="what the video shows")
    gen.add_argument("--image", type=Path, help="animate this PNG, JPEG or WEBP (needs an I2V model)")
    gen.add_argument("--seed", type=int, help="reuse a seed to get the same clip again")
    gen.add_argument("-o", "--output", type=Path, default=Path("reelbot.mp4"), help="where to write the MP4")
    _model_options(gen)
    gen.set_defaults(handler=_generate)
    tiny = sub.add_parser("make-tiny-model", help="write a tiny random-weight pipeline (smoke tests only)")
    tiny.add_argument("directory", type=Path)
    tiny.add_argument("--i2v", action="store_true", help="an image-to-video pipeline (like cogvideox-5b-i2v)")
    tiny.add_argument("--like", type=ModelId, choices=list(ModelId), help="the model it stands in for")
    tiny.add_argument(
        "--family",
        choices=("cogvideox", "wan"),
        help="wan: a Wan 2.2 TI2V-5B stand-in (text or image to video); cogvideox: as --like says",
    )
    tiny.set_defaults(handler=_make_tiny_model)
    return parser


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="ID|DIR",
        help="a model id or a saved pipeline directory (repeat for more; default: REELBOT_MODELS)",
    )
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: REELBOT_DEVICE, auto)")
    parser.add_argument("--offload", choices=("none", "model", "sequential"), help="memory mode")


def _worker_settings(args: argparse.Namespace) -> WorkerSettings:
    settings = WorkerSettings.from_env(os.environ)
    changes = {
        name: getattr(args, name) for name in ("device", "offload") if getattr(args, name, None) is not None
    }
    if getattr(args, "models", None):
        changes["models"] = tuple(args.models)
    return settings.replace(**changes) if changes else settings


async def _worker(args: argparse.Namespace, settings: QueueSettings) -> int:
    from inference.run import run_worker

    return await run_worker(args.worker_settings, settings)


async def _generate(args: argparse.Namespace, settings: QueueSettings) -> int:
    from inference.run import generate

    return await generate(
        args.prompt,
        args.output,
        args.worker_settings,
        settings,
        image=args.image,
        seed=args.seed,
        redis_was_configured="REDIS_URL" in os.environ,
    )


async def _make_tiny_model(args: argparse.Namespace, settings: QueueSettings) -> int:
    from inference.tiny import make_tiny_model

    if args.family == "wan" and not args.like:
        like = ModelId.WAN22_TI2V_5B
    else:
        like = args.like or (ModelId.COGVIDEOX_5B_I2V if args.i2v else ModelId.COGVIDEOX_2B)
    if args.family and like.family != args.family:
        raise ValueError(
            f"--family {args.family} and --like {like} disagree: {like} is a {like.family} model"
        )
    if args.i2v and not like.image_to_video:
        raise ValueError(f"--i2v and --like {like} disagree: {like} is not an image-to-video-only model")
    make_tiny_model(args.directory, like)
    print(f"wrote a tiny {like} stand-in to {args.directory} (random weights: it renders noise)")
    return 0


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
    # the bot is imported here, not at the top: the worker's subcommands must not load it
    from bot.cli import run_box_command

    return await run_box_command(args.worker_settings, settings, args.data_dir)


async def _bot(args: argparse.Namespace, settings: QueueSettings) -> int:
    from bot.cli import run_bot_command

    return await run_bot_command(args.worker_settings, settings)


async def _serve(args: argparse.Namespace, settings: QueueSettings) -> int:
    async with local_redis(os.environ, args.data_dir), connect(settings.redis_url) as redis:
        for warning in await check_server(redis):
            log.warning("%s", warning)
        await _serve_queue(JobQueue(redis, settings))
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
