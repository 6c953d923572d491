"""What operators see of the bot: Prometheus metrics and ``/healthz``, and the queue depth in CloudWatch.

Metrics (``/metrics`` on ``REELBOT_BOT_METRICS_HOST:REELBOT_BOT_METRICS_PORT``):

- ``reelbot_bot_commands_total{command}``: slash commands and buttons handled;
- ``reelbot_bot_refusals_total{reason}``: requests refused (limits, filter, settings, ...);
- ``reelbot_bot_deliveries_total{outcome}``: clips posted, held for a moderator, or refused;
- ``reelbot_bot_discord_errors_total{status}``: Discord API errors the bot met;
- ``reelbot_bot_queue_depth{lane,guild}`` and ``reelbot_bot_queue_oldest_wait_seconds{lane}``,
  sampled every ``SAMPLE_SECONDS``; ``reelbot_bot_workers{lane}``: live workers.

``/healthz`` is 200 while the bot is connected to Discord, Redis answers and its background
loops (delivery, reaping) run, else 503 with the problems listed.
With ``REELBOT_CLOUDWATCH_NAMESPACE`` set, the total queue depth and the jobs rendering are
published every minute as ``QueueDepth`` and ``RunningJobs`` (dimension ``Deployment`` = the
key namespace): the AWS deployment scales its GPU workers on them, down to zero.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from redis.asyncio import Redis

from inference.contract import Keys, ModelId
from inference.jobqueue import JobQueue
from inference.jobqueue.tasks import stop_tasks
from inference.metrics import HealthReport, HealthServer

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 15.0
CLOUDWATCH_SECONDS = 60.0
CLOUDWATCH_METRIC = "QueueDepth"
RUNNING_METRIC = "RunningJobs"


class BotMetrics:
    """The bot's counters and gauges, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "reelbot_bot_commands", "Commands and buttons handled", ["command"], registry=r
        )
        self.refusals = Counter("reelbot_bot_refusals", "Requests refused, by reason", ["reason"], registry=r)
        self.deliveries = Counter(
            "reelbot_bot_deliveries",
            "Finished clips: posted, held, refused; events set aside",
            ["outcome"],
            registry=r,
        )
        self.discord_errors = Counter(
            "reelbot_bot_discord_errors", "Discord API errors, by HTTP status", ["status"], registry=r
        )
        self.depth = Gauge(
            "reelbot_bot_queue_depth", "Queued jobs per lane and guild", ["lane", "guild"], registry=r
        )
        self.oldest = Gauge(
            "reelbot_bot_queue_oldest_wait_seconds",
            "How long the oldest queued job has waited",
            ["lane"],
            registry=r,
        )
        self.workers = Gauge("reelbot_bot_workers", "Live workers per lane", ["lane"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def oldest_wait(queue: JobQueue, lane: str, now: float | None = None) -> float:
    """Seconds the oldest queued job of ``lane`` has waited (0 when none waits); reads only."""
    redis: Redis = queue.redis
    keys: Keys = queue.keys
    now = time.time() if now is None else now
    guilds: list[str] = await redis.zrange(keys.lane_guilds(lane), 0, -1)  # type: ignore[assignment]
    # a member's oldest job heads their own list: one pipelined round trip per level, not per member
    user_lists = await _each(redis, [("zrange", keys.lane_users(lane, g), 0, -1) for g in guilds])
    members = [(g, u) for g, users in zip(guilds, user_lists, strict=True) for u in users]
    heads = await _each(redis, [("zrange", keys.lane_jobs(lane, g, u), 0, 0) for g, u in members])
    created = await _each(redis, [("hget", keys.job(first[0]), "created_at") for first in heads if first])
    times = [float(c) for c in created if c]
    return max(0.0, now - min(times)) if times else 0.0


async def _each(redis: Redis, calls: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``calls`` (command name, then its arguments) in one pipeline; their replies in order."""
    if not calls:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for name, *args in calls:
            getattr(pipe, name)(*args)
        replies: list[Any] = await pipe.execute()
    return replies


class Observer:
    """Serves metrics and health, samples the queue, and publishes to CloudWatch when asked."""

    def __init__(
        self,
        queue: JobQueue,
        metrics: BotMetrics,
        connected: Callable[[], bool],
        *,
        host: str = "127.0.0.1",
        port: int = 9109,
        cloudwatch_namespace: str = "",
        cloudwatch: Any = None,
        problems: Callable[[], list[str]] = list,
    ) -> None:
        self.queue, self.metrics, self.connected = queue, metrics, connected
        #: what else is wrong (background loops that are not running)
        self.problems = problems
        self.host, self.port = host, port
        self.cloudwatch_namespace = cloudwatch_namespace
        self._cloudwatch = cloudwatch
        self._http: HealthServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._seen: set[tuple[str, str]] = set()

    async def start(self) -> int | None:
        """Start serving and sampling; returns the bound port (None when the port is 0: off)."""
        self._tasks.append(
            asyncio.create_task(self._every(SAMPLE_SECONDS, self.sample), name="reelbot-sample")
        )
        if self.cloudwatch_namespace:
            self._tasks.append(
                asyncio.create_task(self._every(CLOUDWATCH_SECONDS, self.publish), name="reelbot-cloudwatch")
            )
        if not self.port:
            return None
        self._http = HealthServer(self.report, self.metrics.render, self.host, self.port)
        bound = await self._http.start()
        log.info("bot health on http://%s:%d/healthz, metrics on /metrics", self.host, bound)
        return bound

    async def stop(self) -> None:
        await stop_tasks(self._tasks, within=10.0, what="the metrics sampler")
        if self._http is not None:
            await self._http.stop()

    async def sample(self) -> int:
        """Refresh the queue gauges; returns the total depth."""
        total = 0
        seen: set[tuple[str, str]] = set()
        for model in ModelId:
            lane = model.value
            stats = await self.queue.lane_stats(lane)
            self.metrics.workers.labels(lane).set(stats.workers)
            self.metrics.oldest.labels(lane).set(await oldest_wait(self.queue, lane) if stats.depth else 0)
            per_guild: dict[str, str] = await self.queue.redis.hgetall(self.queue.keys.lane_depth(lane))  # type: ignore[assignment]
            for field, count in per_guild.items():
                guild = field.removeprefix("gd:")
                self.metrics.depth.labels(lane, guild).set(int(count))
                seen.add((lane, guild))
            total += stats.depth
        for lane, guild in self._seen - seen:  # lanes and guilds that emptied
            self.metrics.depth.labels(lane, guild).set(0)
        self._seen = seen
        return total

    async def publish(self) -> None:
        """Put the queue depth and the jobs rendering in CloudWatch (boto3, off the event loop).

        The workers scale out on ``QueueDepth`` and in only when it and ``RunningJobs`` are
        both 0, so a render is never cut short. While the queue is paused the depth counts as
        0: paused workers start nothing, so there is no reason to add any.
        """
        # the total, one HGET: the gauges are refreshed by their own sampler every 15 s
        depth = (await self.queue.depth()).get("all", 0)
        if (await self.queue.maintenance()).get("mode") == "paused":
            depth = 0
        running = await self.queue.running()
        dimensions = [{"Name": "Deployment", "Value": self.queue.settings.namespace}]
        data = [
            {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": "Count"}
            for name, value in ((CLOUDWATCH_METRIC, depth), (RUNNING_METRIC, running))
        ]
        client = self._cloudwatch_client()
        await asyncio.to_thread(client.put_metric_data, Namespace=self.cloudwatch_namespace, MetricData=data)

    def _cloudwatch_client(self) -> Any:
        if self._cloudwatch is None:
            import boto3  # type: ignore[import-untyped]

            self._cloudwatch = boto3.client("cloudwatch")
        return self._cloudwatch

    async def _every(self, seconds: float, action: Callable[[], Any]) -> None:
        while True:
            try:
                await action()
            except Exception as exc:  # a sampling hiccup must not stop the bot
                log.warning("%s failed: %s", getattr(action, "__name__", "a metrics task"), exc)
            await asyncio.sleep(seconds)

    async def report(self) -> HealthReport:
        """Healthy while connected to Discord, Redis answers and every background loop runs."""
        problems = list(self.problems())
        if not self.connected():
            problems.append("not connected to Discord")
        try:
            await asyncio.wait_for(self.queue.redis.ping(), 2)
        except Exception as exc:
            problems.append(f"Redis does not answer: {exc}")
        return not problems, {"status": "ok" if not problems else "unhealthy", "problems": problems}
