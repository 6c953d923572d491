"""The GPU inference daemon: claims jobs for the loaded models and turns each into a stored MP4.

The models load once, at start, and stay warm. Each job renders on a dedicated thread so
that the event loop keeps the lease alive, publishes progress and notices a cancel while
the GPU works. One bad job never stops the daemon: its failure is recorded with a message
for the member and the next job is claimed. The one thing a process cannot recover from
is a render thread that ignores every request to stop; then the daemon reports itself
unhealthy, hands the queue back and exits with :data:`EXIT_STUCK` so that its supervisor
(systemd, Docker, ECS) starts a fresh one.

Each job is handled by :class:`inference.render_service.RenderService` (render, smooth, join an
Extend, encode, score, store).

With ``REELBOT_OUTPUT_FILTER`` on (the default), every finished clip is scored by the NSFW
classifier (:mod:`inference.safety`) while it is encoded, and the scores go into the job's
result for the bot to judge with the guild's thresholds. The worker only measures. A worker
whose filter is on but cannot load it refuses to start rather than post unchecked clips.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

from redis.exceptions import RedisError

from inference.jobqueue.client import JobQueue, Lease
from inference.jobqueue.worker import Worker
from inference.metrics import Health, HealthReport, HealthServer, WorkerMetrics, cuda_memory
from inference.pipelines import ModelLoadError
from inference.render_service import Renderer, RenderService
from inference.safety import NsfwClassifier, SafetyUnavailable
from inference.settings import WorkerSettings
from inference.storage import BlobStore

log = logging.getLogger(__name__)

#: exit code when a render thread could not be stopped: restart the process
EXIT_STUCK = 3


def load_output_filter(settings: WorkerSettings) -> NsfwClassifier | None:
    """The NSFW classifier for the output filter, or None when ``REELBOT_OUTPUT_FILTER`` is off.

    Raises:
        ModelLoadError: the filter is on but the classifier cannot load (the CLI exits with 2).
    """
    if not settings.output_filter:
        return None
    try:
        return NsfwClassifier.load()
    except SafetyUnavailable as exc:
        # refusing to start beats serving jobs whose clips nobody checked
        raise ModelLoadError(
            f"REELBOT_OUTPUT_FILTER is on but {exc}. To run without the filter, set "
            "REELBOT_OUTPUT_FILTER=false (clips are then posted unchecked)"
        ) from exc


class Daemon:
    """A worker process: the render service, the queue loop, health and metrics."""

    def __init__(
        self,
        queue: JobQueue,
        store: BlobStore,
        renderer: Renderer,
        settings: WorkerSettings,
        *,
        device: str = "cpu",
        worker_id: str | None = None,
        classifier: NsfwClassifier | None = None,
    ) -> None:
        """Build the worker; with the output filter on and no ``classifier``, load one.

        Raises:
            ModelLoadError: the output filter is on but its classifier cannot load.
        """
        self.queue, self.settings = queue, settings
        self.metrics = WorkerMetrics(cuda_memory if device.startswith("cuda") else None)
        if not settings.output_filter:
            classifier = None
        elif classifier is None:
            classifier = load_output_filter(settings)
        self.service = RenderService(renderer, store, settings, self.metrics, self._stuck, classifier)
        lanes = [m.value for m in renderer.models]
        self.worker = Worker(
            queue,
            lanes,
            self.service,
            worker_id=worker_id,
            job_timeout=settings.job_timeout_seconds or None,
            grace_seconds=settings.grace_seconds,
            progress_interval=settings.progress_interval,
            on_outcome=self._outcome,
            info={"device": device, "models": ",".join(lanes), **_speed_info(renderer)},
        )
        plans = _speed_plans(renderer)
        self.health = Health(
            self.worker.worker_id,
            lanes,
            device,
            contact_limit=queue.settings.lease_seconds * 4,
            speed=plans[0].speed.to_dict() if plans else None,
        )
        self.http: HealthServer | None = None
        if settings.metrics_port:
            self.http = HealthServer(
                self._health_report,
                self.metrics.render,
                settings.metrics_host,
                settings.metrics_port,
                setting="REELBOT_METRICS_PORT",
            )
        self.port: int | None = None

    async def _health_report(self) -> HealthReport:
        return self.health.report()

    def stop(self) -> None:
        """Stop claiming; the running job gets the grace period, then goes back to the queue."""
        self.health.stopping = True
        self.worker.stop()

    async def run(self, *, burst: bool = False) -> int:
        """Serve until stopped (with ``burst``, until the lanes are empty).

        Returns:
            The process exit code: 0, or :data:`EXIT_STUCK`.

        Raises:
            PortInUse: ``REELBOT_METRICS_PORT`` is taken (before any job is claimed).
        """
        if self.http is not None:
            self.port = await self.http.start()
            log.info(
                "health on http://%s:%d/healthz, metrics on /metrics", self.settings.metrics_host, self.port
            )
        contact = asyncio.create_task(self._watch_redis())
        try:
            await self.worker.run(burst=burst)
        finally:
            contact.cancel()
            if self.http is not None:
                await self.http.stop()
        return EXIT_STUCK if self.health.stuck else 0

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)

    def _stuck(self, problem: str) -> None:
        log.error("%s", problem)
        self.health.stuck = problem
        self.worker.stop()

    def _outcome(self, lease: Lease, outcome: str, seconds: float) -> None:
        model = lease.job.spec.model.value
        self.metrics.jobs.labels(model, outcome).inc()
        self.metrics.job_seconds.labels(model).observe(seconds)
        self.metrics.running.set(max(0, self.worker.active - 1))

    async def _watch_redis(self) -> None:
        while True:
            try:
                await self.queue.redis.ping()
                self.health.last_contact = time.time()
            except RedisError:
                pass  # /healthz turns unhealthy once the silence outlasts its limit
            self.metrics.running.set(self.worker.active)
            await asyncio.sleep(self.queue.settings.heartbeat_seconds)


def _speed_plans(renderer: Renderer) -> list[Any]:
    # fakes in tests hold models without speed plans
    plans = (getattr(loaded, "speed", None) for loaded in renderer.models.values())
    return [plan for plan in plans if plan is not None]


def _speed_info(renderer: Renderer) -> dict[str, str]:
    plans = _speed_plans(renderer)
    return {"speed": plans[0].speed.describe()} if plans else {}
