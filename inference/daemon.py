"""The GPU inference daemon: claims jobs for the loaded models and turns each into a stored MP4.

The models load once, at start, and stay warm. Each job renders on a dedicated thread so
that the event loop keeps the lease alive, publishes progress and notices a cancel while
the GPU works. One bad job never stops the daemon: its failure is recorded with a message
for the member and the next job is claimed. The one thing a process cannot recover from
is a render thread that ignores every request to stop; then the daemon reports itself
unhealthy, hands the queue back and exits with :data:`EXIT_STUCK` so that its supervisor
(systemd, Docker, ECS) starts a fresh one.

With ``REELBOT_OUTPUT_FILTER`` on (the default), every finished clip is scored by the NSFW
classifier (:mod:`inference.safety`) while it is encoded, and the scores go into the job's
result for the bot to judge with the guild's thresholds. The worker only measures. A worker
whose filter is on but cannot load it refuses to start rather than post unchecked clips.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from PIL import Image
from redis.exceptions import RedisError

from inference.contract import ClipResult, FilterScores, GenerationSpec, ModelId
from inference.generator import OutOfMemory, Rendered, StepHook
from inference.images import ImageRejected, decode_image
from inference.interpolate import smooth
from inference.jobqueue.client import JobQueue, Lease
from inference.jobqueue.worker import JobContext, PermanentJobError, Worker
from inference.metrics import Health, HealthReport, HealthServer, WorkerMetrics, cuda_memory
from inference.pipelines import ModelLoadError
from inference.safety import NsfwClassifier, SafetyUnavailable, ScoringFailed
from inference.settings import WorkerSettings
from inference.storage import BlobNotFound, BlobStore, StorageError
from inference.video import VideoError, encode_mp4

log = logging.getLogger(__name__)

#: exit code when a render thread could not be stopped: restart the process
EXIT_STUCK = 3


class Renderer(Protocol):
    """What the daemon needs from a generator (tests pass fakes that fail on purpose)."""

    @property
    def models(self) -> Mapping[ModelId, Any]: ...

    def render(self, spec: GenerationSpec, image: Image.Image | None, on_step: StepHook) -> Rendered: ...


class RenderAborted(Exception):
    """Raised on the render thread at the next step after the job was given up."""


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


class RenderService:
    """The worker's handler: one job, from its spec to a stored MP4 and a result."""

    def __init__(
        self,
        renderer: Renderer,
        store: BlobStore,
        settings: WorkerSettings,
        metrics: WorkerMetrics,
        on_stuck: Callable[[str], None],
        classifier: NsfwClassifier | None = None,
    ) -> None:
        self.renderer, self.store, self.settings, self.metrics = renderer, store, settings, metrics
        self.on_stuck = on_stuck
        #: the output filter (None: off, and results carry no "nsfw" scores)
        self.classifier = classifier

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        job = ctx.job
        spec = job.spec
        if spec.model not in self.renderer.models:
            raise PermanentJobError(f"this worker does not serve {spec.model}")
        if job.started_at and job.created_at:
            self.metrics.queue_wait.labels(spec.model.value).observe(
                max(0.0, job.started_at - job.created_at)
            )
        image = await self._input_image(spec)
        rendered = await self._render(ctx, image)
        started = time.monotonic()
        rendered_fps = rendered.fps
        target = self.settings.smooth_fps if spec.fps is None else spec.fps
        if target > rendered.fps:
            frames = await asyncio.to_thread(smooth, rendered.frames, rendered.fps, target)
            rendered = dataclasses.replace(rendered, frames=frames, fps=target)
        metadata = {
            "title": rendered.prompt[:200],
            "comment": f"Reelbot job {job.id}, {spec.model}, seed {rendered.seed}",
            "reelbot_job_id": job.id,
            "reelbot_model": spec.model.value,
            "reelbot_seed": str(rendered.seed),
            "reelbot_speed": rendered.speed,
        }
        if rendered.fps != rendered_fps:
            metadata["reelbot_smoothed_from"] = f"{rendered_fps} fps"
        if rendered.work is not None:
            metadata["reelbot_work"] = f"{rendered.work:.3f}"
        # scored while it encodes (both on threads, off the event loop); nothing is stored
        # unless the scores are in, so no clip leaves this worker unchecked
        scoring = None
        if self.classifier is not None:
            scoring = asyncio.ensure_future(self._score(self.classifier, rendered, job.id))
        try:
            mp4 = await asyncio.to_thread(
                encode_mp4, rendered.frames, rendered.fps, metadata=metadata, crf=self.settings.video_crf
            )
            waited = time.monotonic()
            nsfw = await scoring if scoring is not None else None
            waited = time.monotonic() - waited  # the filter's share, kept out of encode_seconds
            stored = await self.store.put(f"clips/{job.id}.mp4", mp4, "video/mp4")
            link = await self.store.url(stored.ref, self.settings.link_seconds)
        except VideoError as exc:
            raise PermanentJobError(f"the clip could not be encoded: {exc}") from exc
        except StorageError as exc:
            log.error("job %s: could not store the clip: %s", job.id, exc)
            raise PermanentJobError(
                "the clip was rendered but could not be stored; the team can look it up by job id"
            ) from exc
        finally:
            if scoring is not None:
                _drop(scoring)
        self.metrics.steps_per_second.labels(spec.model.value).set(rendered.steps / rendered.render_seconds)
        result = ClipResult(
            clip_ref=stored.ref,
            clip_url=link,
            size=stored.size,
            model=spec.model.value,
            frames=int(rendered.frames.shape[0]),
            fps=float(rendered.fps),
            width=rendered.width,
            height=rendered.height,
            seed=rendered.seed,
            steps=rendered.steps,
            guidance=float(rendered.guidance),
            prompt=rendered.prompt,
            prompt_shortened=rendered.prompt_shortened,
            render_seconds=round(rendered.render_seconds, 3),
            encode_seconds=round(time.monotonic() - started - waited, 3),
            nsfw=nsfw,
        )
        return result.to_dict()

    async def _score(self, classifier: NsfwClassifier, rendered: Rendered, job_id: str) -> FilterScores:
        """The output filter's scores for a clip, measured on a thread.

        Raises:
            PermanentJobError: the classifier failed (the clip is not stored unchecked).
        """
        try:
            return await asyncio.to_thread(
                classifier.score_frames, rendered.frames, self.settings.output_filter_frames
            )
        except ScoringFailed as exc:
            log.error("job %s: the output filter failed: %s", job_id, exc)
            raise PermanentJobError(
                "the clip was rendered but the content filter could not check it, so it was not posted"
            ) from exc

    async def _input_image(self, spec: GenerationSpec) -> Image.Image | None:
        if spec.image_ref is None:
            return None
        try:
            data = await self.store.get(spec.image_ref)
        except BlobNotFound:
            raise PermanentJobError(
                "the input image has expired from storage; send the request again"
            ) from None
        try:
            return await asyncio.to_thread(decode_image, data)
        except ImageRejected as exc:
            raise PermanentJobError(f"the input image could not be used: {exc}") from None

    async def _render(self, ctx: JobContext, image: Image.Image | None) -> Rendered:
        loop = asyncio.get_running_loop()
        abort = threading.Event()

        def on_step(step: int, total: int) -> None:
            if abort.is_set():
                raise RenderAborted(ctx.job.id)
            report = asyncio.run_coroutine_threadsafe(ctx.step(step, total), loop)
            try:
                report.result(timeout=30)
            except (RedisError, TimeoutError) as exc:
                # progress is best effort; the lease decides whether the job is still ours
                log.warning("job %s: could not report step %d (%s)", ctx.job.id, step, exc)

        future = _in_thread(loop, self.renderer.render, ctx.job.spec, image, on_step)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # time limit, stop or lost lease: the thread stops at its next step
            abort.set()
            await self._wait_for_thread(future, ctx.job.id)
            raise
        except OutOfMemory as exc:
            raise PermanentJobError(
                f"{exc}. The worker carries on; an admin can set REELBOT_OFFLOAD=model or use a smaller model"
            ) from None

    async def _wait_for_thread(self, future: asyncio.Future[Rendered], job_id: str) -> None:
        done, _ = await asyncio.wait({future}, timeout=self.settings.stuck_seconds)
        if done:
            future.exception()  # retrieved: the abort was expected
            return
        self.on_stuck(
            f"job {job_id}'s render thread did not stop within {self.settings.stuck_seconds:g} s of being "
            "told to; the process must be restarted"
        )


def _drop(task: asyncio.Future[Any]) -> None:
    """Give up on ``task`` after another error (or a cancel) ended the job first."""
    if not task.done():
        task.cancel()  # its thread finishes on its own; the result is not wanted
    elif not task.cancelled():
        task.exception()  # seen: asyncio would otherwise log it as never retrieved


def _in_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Rendered], *args: Any
) -> asyncio.Future[Rendered]:
    """Run ``fn`` on a daemon thread: one stuck in a GPU call must not block the process's exit."""
    future: asyncio.Future[Rendered] = loop.create_future()

    def settle(result: Rendered | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the event loop, which decides
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name="reelbot-render", daemon=True).start()
    return future


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
