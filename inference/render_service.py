"""The worker's job handler: one job, from its spec to a stored MP4 and a result.

Each job renders on a dedicated thread so that the event loop keeps the lease alive,
publishes progress and notices a cancel while the GPU works; a render thread that ignores
every request to stop is reported to the daemon (``on_stuck``), which must restart.

A job with ``extend_ref`` continues an earlier clip (:mod:`inference.extend`): the earlier clip's
last frame is the input image, and the clip stored, scored and described is the two joined.

With the output filter on, every finished clip is scored by the NSFW classifier
(:mod:`inference.safety`) while it is encoded, and the scores go into the job's result for the
bot to judge with the guild's thresholds. The worker only measures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from PIL import Image
from redis.exceptions import RedisError

from inference.contract import ClipResult, FilterScores, GenerationSpec, ModelId
from inference.extend import EarlierClip, ExtendError, join, read_earlier
from inference.generator import CannotRender, OutOfMemory, Rendered, StepHook
from inference.images import ImageRejected, decode_image
from inference.interpolate import smooth
from inference.jobqueue.worker import JobContext, PermanentJobError
from inference.metrics import WorkerMetrics
from inference.safety import NsfwClassifier, ScoringFailed
from inference.settings import WorkerSettings
from inference.storage import BlobNotFound, BlobStore, StorageError
from inference.video import VideoError, encode_mp4

log = logging.getLogger(__name__)


class Renderer(Protocol):
    """What the daemon needs from a generator (tests pass fakes that fail on purpose)."""

    @property
    def models(self) -> Mapping[ModelId, Any]: ...

    def render(
        self,
        spec: GenerationSpec,
        image: Image.Image | None,
        on_step: StepHook,
        *,
        size: tuple[int, int] | None = None,
    ) -> Rendered: ...


class RenderAborted(Exception):
    """Raised on the render thread at the next step after the job was given up."""


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
        rendered, metadata, started = await self._clip(ctx)
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

    async def _clip(self, ctx: JobContext) -> tuple[Rendered, dict[str, str], float]:
        """The clip to encode: rendered, smoothed as asked, joined to the clip it extends.

        Returns:
            The clip, its MP4 tags, and when its render ended (smoothing and joining count as
            encoding time).
        """
        spec = ctx.job.spec
        # the earlier clip's frames live until they are joined, and no longer
        earlier = await self._earlier_clip(spec)
        image = earlier.last_frame() if earlier is not None else await self._input_image(spec)
        rendered = await self._render(ctx, image, earlier.size if earlier is not None else None)
        rendered_at = time.monotonic()
        clip = await self._smooth(spec, rendered)
        metadata = _metadata(ctx.job.id, spec, rendered, clip)
        if earlier is not None:
            clip = await self._joined(earlier, clip)
            metadata["reelbot_extends"] = earlier.label
        return clip, metadata, rendered_at

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

    async def _smooth(self, spec: GenerationSpec, rendered: Rendered) -> Rendered:
        """``rendered`` smoothed to the spec's frame rate (the worker's when the spec has none)."""
        target = self.settings.smooth_fps if spec.fps is None else spec.fps
        if target <= rendered.fps:
            return rendered
        frames = await asyncio.to_thread(smooth, rendered.frames, rendered.fps, target)
        return dataclasses.replace(rendered, frames=frames, fps=target)

    async def _earlier_clip(self, spec: GenerationSpec) -> EarlierClip | None:
        """The clip this job extends, decoded once, or None when it extends none.

        Raises:
            PermanentJobError: the clip is no longer stored, or cannot be decoded.
        """
        if spec.extend_ref is None:
            return None
        try:
            data = await self.store.get(spec.extend_ref)
        except BlobNotFound:
            raise PermanentJobError(
                "the clip to extend is no longer stored (clips expire); extend a newer clip"
            ) from None
        try:
            return await asyncio.to_thread(read_earlier, data, spec.extend_ref)
        except ExtendError as exc:
            raise PermanentJobError(str(exc)) from None

    async def _joined(self, earlier: EarlierClip, rendered: Rendered) -> Rendered:
        """The earlier clip and its continuation as one clip.

        Raises:
            PermanentJobError: their frame rates (or sizes) differ.
        """
        try:
            frames = await asyncio.to_thread(join, earlier, rendered.frames, rendered.fps)
        except ExtendError as exc:
            raise PermanentJobError(str(exc)) from None
        return dataclasses.replace(rendered, frames=frames)

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

    async def _render(
        self, ctx: JobContext, image: Image.Image | None, size: tuple[int, int] | None = None
    ) -> Rendered:
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

        # the size goes along only when set: renderers from before Extend do not take it
        render = functools.partial(self.renderer.render, size=size) if size else self.renderer.render
        future = _in_thread(loop, render, ctx.job.spec, image, on_step)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # time limit, stop or lost lease: the thread stops at its next step
            abort.set()
            await self._wait_for_thread(future, ctx.job.id)
            raise
        except CannotRender as exc:
            raise PermanentJobError(f"{exc}; ask again for one it makes, or pick another model") from None
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


def _metadata(job_id: str, spec: GenerationSpec, rendered: Rendered, clip: Rendered) -> dict[str, str]:
    """The MP4's tags for ``clip``, made from ``rendered`` (smoothed or not)."""
    metadata = {
        "title": rendered.prompt[:200],
        "comment": f"Reelbot job {job_id}, {spec.model}, seed {rendered.seed}",
        "reelbot_job_id": job_id,
        "reelbot_model": spec.model.value,
        "reelbot_seed": str(rendered.seed),
        "reelbot_speed": rendered.speed,
    }
    if clip.fps != rendered.fps:
        metadata["reelbot_smoothed_from"] = f"{rendered.fps} fps"
    if rendered.work is not None:
        metadata["reelbot_work"] = f"{rendered.work:.3f}"
    return metadata


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
