"""Running Reelbot on one box: Redis (when none is configured), the bot, and a GPU worker.

The worker runs as a child process (``python -m inference``) under a small supervisor:
a crashed or stuck worker (exit code 3) is restarted with a back-off, and the bot keeps
answering members meanwhile. On SIGINT/SIGTERM the bot closes and the worker gets
SIGTERM, so the job it is rendering finishes or goes back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.settings import BotSettings
from inference.contract import ModelId
from inference.jobqueue import JobQueue, QueueSettings, check_server, connect
from inference.jobqueue.localredis import local_redis
from inference.settings import WorkerSettings
from inference.storage import store_for

log = logging.getLogger(__name__)

#: seconds between worker restarts, doubling up to the last
_BACKOFF = (2.0, 5.0, 15.0, 60.0)


async def run_bot(bot_settings: BotSettings, worker: WorkerSettings, queue: QueueSettings) -> int:
    """The bot alone (``reelbot bot``), until SIGINT/SIGTERM."""
    from bot.app import point_at, run_until_stopped
    from bot.compose import compose
    from bot.enhance import Enhancer

    token = bot_settings.require_token()
    point_at(bot_settings)
    async with connect(queue.redis_url) as redis:
        for warning in await check_server(redis):
            log.warning("%s", warning)
        store = store_for(worker, queue)
        try:
            jobs = JobQueue(redis, queue)
            enhancer = await Enhancer.start(bot_settings.enhance, redis, jobs.keys)
            classifier, guardrail = await filter_parts(bot_settings, enhancer)
            bot = compose(
                bot_settings,
                jobs,
                store,
                models=deployment_models(worker),
                enhancer=enhancer,
                classifier=classifier,
                guardrail=guardrail,
            )
            try:
                return await run_until_stopped(bot, token)
            finally:
                enhancer.close()
        finally:
            await store.aclose()


async def run_box(
    bot_settings: BotSettings,
    worker: WorkerSettings,
    queue: QueueSettings,
    data_dir: Path,
    environ: Mapping[str, str],
) -> int:
    """``reelbot run``: Redis if needed, the bot, and a supervised worker on this box.

    ``environ`` is handed to the worker process, which reads its own settings from it.
    """
    bot_settings.require_token()  # before starting anything
    async with local_redis(environ, data_dir):
        supervisor = asyncio.create_task(supervise_worker(dict(environ), queue.redis_url))
        try:
            return await run_bot(bot_settings, worker, queue)
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor


async def filter_parts(settings: BotSettings, enhancer: Any) -> tuple[Any, Any]:
    """The content filter's parts: the image classifier, and Bedrock Guardrails if set."""
    from bot.moderation import Guardrail
    from inference.safety import NsfwClassifier, SafetyUnavailable

    try:
        classifier = await asyncio.to_thread(NsfwClassifier.load)
    except SafetyUnavailable as exc:
        classifier = None
        log.warning("the image filter is unavailable (%s); attached images will wait for a moderator", exc)
    guardrail = None
    if settings.guardrail_id:
        if enhancer.client is None:
            log.warning("REELBOT_GUARDRAIL_ID is set but there are no AWS credentials; Guardrails are off")
        else:
            guardrail = Guardrail(enhancer.client, settings.guardrail_id, settings.guardrail_version)
    return classifier, guardrail


def deployment_models(worker: WorkerSettings) -> list[ModelId]:
    """The models REELBOT_MODELS names (ids, ID=SOURCE, or saved directories read from disk)."""
    from inference.pipelines import ModelLoadError, resolve

    models = []
    for entry in worker.models:
        try:
            models.append(resolve(entry).model)
        except ModelLoadError as exc:
            log.warning("REELBOT_MODELS entry %r: %s", entry, exc)
    return models or [ModelId.COGVIDEOX_2B]


def worker_available() -> bool:
    """Whether this install can run a GPU worker (the ``inference`` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "diffusers"))


async def supervise_worker(environ: dict[str, str], redis_url: str) -> None:
    """Keep a ``python -m inference`` child running; stop it with SIGTERM when cancelled."""
    if not worker_available():
        log.warning(
            "no GPU worker on this box: the 'inference' extra is not installed. Install it here "
            "(pip install -e '.[bot,inference]') or run `reelbot worker` on your GPU machine."
        )
        return
    env = {**environ, "REDIS_URL": redis_url}
    failures = 0
    while True:
        child = await asyncio.create_subprocess_exec(sys.executable, "-m", "inference", env=env)
        log.info("started the worker (pid %d)", child.pid)
        try:
            code = await child.wait()
        except asyncio.CancelledError:
            await _stop(child, float(environ.get("REELBOT_GRACE_SECONDS", "60")) + 15)
            raise
        if code == 2:
            log.error("the worker cannot start (see its message above); not restarting it")
            return
        failures = failures + 1 if code != 0 else 0
        delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
        log.warning("the worker exited with code %d; restarting in %.0f s", code, delay)
        await asyncio.sleep(delay)


async def _stop(child: asyncio.subprocess.Process, grace: float) -> None:
    if child.returncode is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(child.wait(), timeout=grace)
    except TimeoutError:
        log.error("the worker did not stop within %.0f s; killing it", grace)
        child.kill()
        await child.wait()
