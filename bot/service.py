"""What the commands and buttons do, without Discord objects: submit, cancel, look up.

Commands parse and defer, call one function here, and render what it returns. Everything
here can be tested with a real Redis and no Discord at all.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from bot.errors import UserFacingError
from bot.guildconfig import MemberPolicy
from bot.limits import LimitsService, Requester
from inference.contract import ContractError, GenerationSpec, JobRecord, JobStatus, ModelId
from inference.jobqueue import JobNotFound, JobQueue, LimitReached, Position, new_job_id
from inference.storage import BlobStore, StorageError

if TYPE_CHECKING:
    from bot.moderation import Moderation
    from bot.prompting import PromptService

log = logging.getLogger(__name__)

#: how many recent jobs per member /queue looks at
RECENT_JOBS = 20


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """A /video command (or a Re-roll or Remix), already parsed."""

    request_id: str
    guild_id: str
    channel_id: str
    user_id: str
    prompt: str
    negative: str = ""
    seed: int | None = None
    model: str | None = None
    #: the member's own words when ``prompt`` is an enhancement of them
    original_prompt: str | None = None
    #: the input image, already checked and re-encoded as PNG
    image_png: bytes | None = None
    #: an input image already in storage (Re-roll and Remix of an image job)
    image_ref: str | None = None
    #: the member's role ids and whether they moderate here, for their limits
    roles: tuple[str, ...] = ()
    moderator: bool = False
    #: the job's id when it was chosen before queueing (a request held for a moderator)
    job_id: str | None = None

    @property
    def requester(self) -> Requester:
        return Requester(self.guild_id, self.user_id, self.roles, self.moderator)


@dataclass(frozen=True, slots=True)
class Submitted:
    job: JobRecord
    position: Position | None
    #: the same interaction arrived twice: this is the job the first one made
    replayed: bool


class VideoService:
    """Submitting and managing jobs on behalf of members."""

    def __init__(
        self,
        queue: JobQueue,
        store: BlobStore,
        default_models: Sequence[ModelId] = (ModelId.COGVIDEOX_2B, ModelId.COGVIDEOX_5B_I2V),
        limits: LimitsService | None = None,
        prompts: PromptService | None = None,
        moderation: Moderation | None = None,
    ) -> None:
        self.queue, self.store = queue, store
        #: the deployment's default limits unless given
        self.limits = limits or LimitsService(queue)
        #: screening, enhancement and review of prompts (no enhancement unless given)
        self.prompts = prompts or _plain_prompts(queue, store, self.limits)
        #: the models this deployment runs (REELBOT_MODELS): where jobs wait when no worker is up
        self.default_models = list(default_models)
        self.redis: Redis = queue.redis
        self.keys = queue.keys
        #: the content filter's decisions (no image classifier unless given)
        self.moderation = moderation or _plain_moderation(queue)

    async def served_models(self) -> list[ModelId]:
        """The models at least one live worker serves, in catalogue order."""
        served = []
        for model in ModelId:
            if (await self.queue.lane_stats(model.value)).workers > 0:
                served.append(model)
        return served

    async def choose_model(self, requested: str | None, with_image: bool) -> ModelId:
        """The model for a request: the one asked for, or the best one running.

        Raises:
            UserFacingError: an unknown model, the wrong kind for the input, or not served.
        """
        served = await self.served_models()
        if requested:
            try:
                model = ModelId(requested)
            except ValueError:
                raise UserFacingError(f"There is no model called `{requested}`. {_offer(served)}") from None
            if model.image_to_video != with_image:
                need = "animates an image: attach one" if model.image_to_video else "does not take an image"
                raise UserFacingError(f"`{model}` {need}. {_offer(served)}")
            if served and model not in served:
                raise UserFacingError(f"No worker runs `{model}` right now. {_offer(served)}")
            return model
        fitting = [m for m in served if m.image_to_video == with_image]
        if fitting:
            return fitting[0]
        if served:  # workers are up, but none of the right kind
            kind = "image-to-video" if with_image else "text-to-video"
            raise UserFacingError(f"No {kind} model is running right now. {_offer(served)}")
        # no worker online: queue on the deployment's model and let the job wait for a worker
        for model in self.default_models:
            if model.image_to_video == with_image:
                return model
        kind = "image-to-video" if with_image else "text-to-video"
        raise UserFacingError(f"This server's Reelbot has no {kind} model set up.")

    async def submit(self, request: VideoRequest, policy: MemberPolicy | None = None) -> Submitted:
        """Validate, store the image, and queue the job (once per request id) within the
        member's limits.

        Raises:
            UserFacingError: the request cannot be queued (a limit, a bad input); nothing
                was queued and nothing already queued was touched.
        """
        await self.check_open()
        with_image = request.image_png is not None or request.image_ref is not None
        model = await self.choose_model(request.model, with_image)
        if policy is None:  # /video passes the one its early check already loaded
            policy = await self.limits.policy(request.requester)
        job_id = request.job_id or new_job_id()
        stored_here = request.image_png is not None
        if stored_here:
            request = await self.store_input(request, job_id)
        image_ref = request.image_ref
        try:
            spec = GenerationSpec(
                prompt=request.prompt.strip(),
                original_prompt=request.original_prompt,
                model=model,
                negative_prompt=request.negative.strip(),
                seed=request.seed,
                image_ref=image_ref,
            )
            job = JobRecord(
                id=job_id,
                request_id=request.request_id,
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                user_id=request.user_id,
                spec=spec,
                weight=policy.weight,
            )
            enqueued = await self.queue.enqueue(job, policy.limits)
        except ContractError as exc:
            raise UserFacingError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
        except LimitReached as refusal:
            if image_ref and stored_here:
                await self._discard_input(image_ref)
            raise UserFacingError(
                await self.limits.explain(refusal, request.requester, policy, model.value), reason="limit"
            ) from None
        if not enqueued.replayed:
            await self._remember(enqueued.job)
        return Submitted(enqueued.job, await self.queue.position(enqueued.job.id), enqueued.replayed)

    async def check_open(self) -> None:
        """Refuse new requests while an operator has the queue paused or draining.

        Raises:
            UserFacingError: with the operator's reason.
        """
        state = await self.queue.maintenance()
        if state:
            reason = f": {state['reason']}" if state.get("reason") else "."
            raise UserFacingError(
                f"Reelbot is not taking new videos right now; its queue is under maintenance{reason} "
                "Nothing was queued; please try again later.",
                reason="maintenance",
            )

    async def store_input(self, request: VideoRequest, job_id: str) -> VideoRequest:
        """``request`` with its image put in storage (``image_ref`` set, the bytes dropped).

        Raises:
            UserFacingError: storage failed; try again.
        """
        if request.image_png is None:
            return request
        try:
            stored = await self.store.put(f"inputs/{job_id}.png", request.image_png, "image/png")
        except StorageError as exc:
            log.error("could not store the input image for %s: %s", job_id, exc)
            raise UserFacingError("I could not store your image just now; please try again.") from exc
        return replace(request, image_ref=stored.ref, image_png=None)

    async def check_limits(self, who: Requester, model: ModelId) -> MemberPolicy:
        """Refuse early (before downloading an image) when the member's next video would be;
        returns the member's policy, for :meth:`submit`.

        Raises:
            UserFacingError: the refusal, with its numbers and when to try again.
        """
        return await self.limits.check(who, model.value)

    async def reroll(
        self, job_id: str, request_id: str, who: Requester, prompt: str | None = None
    ) -> Submitted:
        """A new job from an old one for ``who``: same prompt (or ``prompt``), model and
        image, new seed."""
        return await self.submit(await self.reroll_request(job_id, request_id, who, prompt))

    async def reroll_request(
        self, job_id: str, request_id: str, who: Requester, prompt: str | None = None
    ) -> VideoRequest:
        """The request :meth:`reroll` queues."""
        old = await self.job(job_id)
        if old.guild_id != who.guild_id:
            raise UserFacingError(f"I know no job `{job_id}` in this server.")
        return VideoRequest(
            request_id=request_id,
            guild_id=old.guild_id,
            channel_id=old.channel_id,
            user_id=who.user_id,
            roles=who.role_ids,
            moderator=who.moderator,
            prompt=prompt if prompt is not None else old.spec.prompt,
            # a Remix is the member's own text; a Re-roll keeps the words it was enhanced from
            original_prompt=old.spec.original_prompt if prompt is None else None,
            negative=old.spec.negative_prompt,
            seed=secrets.randbelow(2**32),
            model=old.spec.model.value,
            image_ref=old.spec.image_ref,
        )

    async def job(self, job_id: str) -> JobRecord:
        """A job by id.

        Raises:
            UserFacingError: no such job (or it expired).
        """
        try:
            return await self.queue.get(job_id.strip().lower())
        except (JobNotFound, ContractError):
            raise UserFacingError(f"I know no job `{job_id}`; finished jobs are kept for 7 days.") from None

    async def cancel(self, job_id: str, user_id: str, moderator: bool) -> str:
        """Cancel a job for its requester or a moderator; returns what happened, for the member.

        Raises:
            UserFacingError: not allowed, unknown, or already finished.
        """
        job = await self.job(job_id)
        if job.user_id != user_id and not moderator:
            raise UserFacingError("Only the member who asked for this video, or a moderator, can cancel it.")
        if job.status.terminal:
            raise UserFacingError(
                f"Job `{job.id}` has already {job.status.value}; there is nothing to cancel."
            )
        outcome = await self.queue.cancel(job.id)
        if outcome == "cancelled":
            return f"Cancelled `{job.id}`."
        if outcome == "cancelling":
            return f"Stopping `{job.id}`: it ends at its next step."
        return f"Job `{job.id}` had already {outcome}."

    async def member_jobs(self, guild_id: str, user_id: str) -> list[tuple[JobRecord, Position | None]]:
        """A member's queued and running jobs in a guild, oldest first, with their positions."""
        key = self.keys.member_jobs(guild_id, user_id)
        ids: list[str] = await self.redis.zrange(key, 0, -1)  # type: ignore[assignment]
        active = []
        for job_id in ids:
            try:
                job = await self.queue.get(job_id)
            except JobNotFound:
                continue
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                position = await self.queue.position(job.id) if job.status is JobStatus.QUEUED else None
                active.append((job, position))
        return active

    async def posts(self, job_id: str) -> dict[str, str]:
        """The messages recorded for a job: ``status``, ``clip`` (message ids) and ``failed``."""
        posts: dict[str, str] = await self.redis.hgetall(self.keys.posts(job_id))  # type: ignore[assignment]
        return posts

    async def record_post(self, job_id: str, what: str, value: str, *, only_if_new: bool = False) -> bool:
        """Record a message made for a job; with ``only_if_new``, only the first one counts."""
        key = self.keys.posts(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if only_if_new:
                pipe.hsetnx(key, what, value)
            else:
                pipe.hset(key, what, value)
            pipe.expire(key, self.queue.settings.retention_seconds)
            first, _ = await pipe.execute()
        return bool(first)

    async def settle(self, job: JobRecord, delivered: bool) -> None:
        """Charge the clip to the guild's daily quota once it is posted, or refund it."""
        try:
            await self.queue.settle(job.id, delivered)
        except (JobNotFound, ContractError) as exc:
            log.warning("job %s: could not settle its quota: %s", job.id, exc)

    async def _discard_input(self, image_ref: str) -> None:
        """Drop an input image stored for a request that was refused."""
        try:
            await self.store.delete(image_ref)
        except StorageError as exc:
            log.warning("could not delete the refused request's image %s: %s", image_ref, exc)

    async def _remember(self, job: JobRecord) -> None:
        key = self.keys.member_jobs(job.guild_id, job.user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {job.id: job.created_at or time.time()})
            pipe.zremrangebyrank(key, 0, -RECENT_JOBS - 1)
            pipe.expire(key, self.queue.settings.retention_seconds)
            await pipe.execute()


def _plain_prompts(queue: JobQueue, store: BlobStore, limits: LimitsService) -> PromptService:
    """Prompts screened with nothing configured and never enhanced."""
    from bot.enhance import Enhancer, EnhanceSettings
    from bot.prompting import PromptService
    from bot.reviews import ReviewStore

    enhancer = Enhancer(EnhanceSettings(), queue.redis, queue.keys, None, "not configured")
    return PromptService(enhancer, ReviewStore(queue.redis, queue.keys), limits.config, store)


def _plain_moderation(queue: JobQueue) -> Moderation:
    """The default word list, no image classifier (images then wait for a moderator), no Guardrails."""
    from bot.moderation import Moderation

    return Moderation(queue.redis, queue.keys, None)


def _offer(served: list[ModelId]) -> str:
    if not served:
        return "No worker is online right now."
    return "Running now: " + ", ".join(f"`{m}`" for m in served) + "."
