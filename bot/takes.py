"""Queueing a request's takes: one job per take, judged together against the member's limits.

``/video takes:`` asks for several clips of one request. Each take is its own job with its own
id, request id (so a replayed interaction finds every take), seed and copy of the input image
(every job owns, and deletes, its input). The first take is admitted only if every take fits
(:class:`inference.jobqueue.Need`); when another request of the member's takes the room between
two takes, the takes already queued are cancelled, so a request is queued whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.errors import Refused
from bot.guildconfig import MemberPolicy
from bot.i18n import _
from bot.inputs import InputJanitor
from bot.requests import VideoRequest
from inference.contract import GenerationSpec, JobRecord, ModelId
from inference.jobqueue import Enqueued, JobQueue, Need, new_job_id
from inference.storage import BlobStore, StorageError

log = logging.getLogger(__name__)


def need(request: VideoRequest) -> Need:
    """What the whole request must find free in the member's limits."""
    return Need(clips=request.takes * request.units, jobs=request.takes, cost=request.units)


class Takes:
    """Queues every take of a request, or none."""

    def __init__(self, queue: JobQueue, store: BlobStore, inputs: InputJanitor) -> None:
        self.queue, self.store, self.inputs = queue, store, inputs

    async def enqueue(
        self, request: VideoRequest, model: ModelId, policy: MemberPolicy, stored_here: bool
    ) -> list[Enqueued]:
        """Queue the request's takes in order (the first is the request's own job).

        Args:
            stored_here: the request's input image was stored for this request (deleted if
                nothing is queued).

        Raises:
            ContractError, LimitReached, Refused: nothing of the request is left queued.
        """
        queued: list[Enqueued] = []
        try:
            for take in range(request.takes):
                job = await self._job(request, model, policy, take)
                left = request.takes - take
                queued.append(
                    await self.queue.enqueue(
                        job, policy.limits, Need(clips=left * request.units, jobs=left, cost=request.units)
                    )
                )
        except Exception:  # a refusal, an unreadable job, or an image that could not be copied
            await self._undo(request, queued, stored_here)
            raise
        return queued

    async def _job(self, request: VideoRequest, model: ModelId, policy: MemberPolicy, take: int) -> JobRecord:
        """The job of one take: the first is the request's own; each further take gets its own
        id, request id, seed and copy of the input image."""
        assert request.job_id is not None
        job_id, request_id, image_ref, seed = (
            request.job_id,
            request.request_id,
            request.image_ref,
            request.seed,
        )
        if take:
            job_id, request_id = new_job_id(), f"{request.request_id}-take{take + 1}"
            seed = None if seed is None else (seed + take) % 2**32
            if image_ref is not None:
                image_ref = await self._copy_input(image_ref, job_id)
        return JobRecord(
            id=job_id,
            request_id=request_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            user_id=request.user_id,
            spec=GenerationSpec(
                prompt=request.prompt.strip(),
                original_prompt=request.original_prompt,
                model=model,
                negative_prompt=request.negative.strip(),
                seed=seed,
                image_ref=image_ref,
                fps=request.fps,
                length=request.length,
                shape=request.shape,
                extend_ref=request.extend_ref,
            ),
            weight=policy.weight,
        )

    async def _copy_input(self, image_ref: str, job_id: str) -> str:
        """A copy of a take's input image for another take."""
        try:
            data = await self.store.get(image_ref)
            return (await self.store.put(f"inputs/{job_id}.png", data, "image/png")).ref
        except StorageError as exc:
            log.error("could not copy the input image for take %s: %s", job_id, exc)
            raise Refused(
                _("I could not store your image just now; please try again."), reason="storage"
            ) from exc

    async def _undo(self, request: VideoRequest, queued: Sequence[Enqueued], stored_here: bool) -> None:
        """Take back the takes queued before one was refused, and the images stored for them."""
        for enqueued in queued:
            if not enqueued.replayed:
                await self.queue.cancel(enqueued.job.id)
                if enqueued.job.spec.image_ref != request.image_ref:
                    await self.inputs.delete(enqueued.job.spec.image_ref)
        if stored_here:
            await self.inputs.delete(request.image_ref)
