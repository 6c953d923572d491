"""The one request pipeline: from "a member asked for a video" to queued, held or refused.

Every entry point builds a :class:`bot.requests.VideoRequest` and calls
:meth:`RequestPipeline.run`; none of them checks anything on its own. The steps, in order:

1. **snapshot**: the guild's settings, the queue's state, the member's standing, in one
   Redis round trip (:mod:`bot.snapshot`); nothing below reads them again;
2. **open**: refused while an operator has the queue paused or draining;
3. **member and channel**: the bot can post here, ``/video`` is allowed here, the member is
   not paused by the filter;
4. **model**: the one asked for, or the best one running;
5. **limits**: judged early, before anything slow, when something slow follows;
6. **image**: the attachment downloaded and checked (or a stored one read back);
7. **screen**: the member's words, the negative prompt, a rewritten prompt and the image, with
   the guild's *current* word list and thresholds; a block is a strike, and can be appealed;
8. **enhance**: by the member's choice or the guild's default, the rewrite screened again; with
   ``review`` the request waits as a draft for its member;
9. **hold**: a moderator approves first when the guild's mode, what was flagged (now or when
   the original was made) or the member's standing says so;
10. **enqueue**: limits taken atomically with the enqueue, idempotent on the request id.

A request a moderator approved (``approved_by``) skips steps 3, 7, 8 and 9: the moderator saw
it; the deployment's state, the model and the member's limits still apply.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.attachments import AttachmentRejected, Frame, ImageFetcher
from bot.enhance import Enhancement, Enhancer, Mode
from bot.errors import Refused
from bot.features.approvals.cards import appeal_hint
from bot.features.approvals.holds import Holds
from bot.features.approvals.store import KEEP_SECONDS
from bot.features.drafts.store import DRAFT_SECONDS, Draft, DraftStore
from bot.fmt import relative
from bot.guildconfig import MemberPolicy
from bot.i18n import N_, _
from bot.inputs import APPEAL_WINDOW_SECONDS, InputJanitor
from bot.jobs import JobBook
from bot.limits import LimitsService
from bot.models import choose_model
from bot.moderation import Moderation
from bot.requests import Drafted, Outcome, Queued, VideoRequest
from bot.screening import ALLOWED, Action, PromptScreen, Stage, Verdict
from bot.snapshot import Snapshot, Snapshots
from bot.takes import Takes, need
from bot.text import has_words, visible
from bot.translation import PromptTranslator
from inference.contract import ContractError, ModelId
from inference.jobqueue import JobNotFound, JobQueue, LimitReached, new_job_id
from inference.recipes import Recipe, recipe_for
from inference.storage import BlobStore, StorageError

log = logging.getLogger(__name__)

FILTERED_ENHANCEMENT = N_("The enhanced prompt did not pass this server's filter, so I used your words.")


@dataclass(frozen=True, slots=True)
class Image:
    """The request's input image: the bytes to screen, enhance with and store, and a preview."""

    png: bytes
    preview: bytes | None = None
    #: already in storage under the request's image_ref
    stored: bool = False


class RequestPipeline:
    """Turns requests into queued jobs, held requests, drafts or refusals."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        store: BlobStore,
        snapshots: Snapshots,
        limits: LimitsService,
        moderation: Moderation,
        screen: PromptScreen,
        enhancer: Enhancer,
        images: ImageFetcher,
        holds: Holds,
        drafts: DraftStore,
        jobs: JobBook,
        inputs: InputJanitor,
        default_models: Sequence[ModelId],
    ) -> None:
        self.queue, self.store, self.snapshots = queue, store, snapshots
        self.limits, self.moderation, self.screen = limits, moderation, screen
        self.enhancer, self.images = enhancer, images
        self.translator = PromptTranslator(enhancer)
        self.takes = Takes(queue, store, inputs)
        self.holds, self.drafts, self.jobs, self.inputs = holds, drafts, jobs, inputs
        self.default_models = list(default_models)

    async def run(self, request: VideoRequest) -> Outcome:
        """Take ``request`` as far as it may go.

        Returns:
            Queued, Held (a moderator decides first) or Drafted (its member decides first).

        Raises:
            Refused: with what to do; nothing was queued and nothing queued was touched.
        """
        request = _readable(request)
        snap = await self.snapshots.load(request.guild_id, request.user_id, request.request_id)
        if snap.replay_of is not None:  # the same interaction again: answer with what it made
            return await self._replayed(request, snap.replay_of)
        self._check_open(snap)
        approved = request.approved_by is not None
        if not approved:
            self._check_member(request, snap)
        model = self._model(request, snap)
        request = replace(request, model=model.value)
        policy = snap.policy(request.member, self.limits.defaults)
        mode = self._mode(request, snap)
        if request.with_image or mode is not Mode.OFF:  # before the slow steps
            await self.limits.check(request.member, policy, model.value, need(request), request.takes)
        image = await self._image(request, model)
        if not approved:
            request = await self._screen(request, snap, image)
        enhancement = None
        if mode is not Mode.OFF:
            enhancement = await self._enhance(request, snap, image, model)
            request = _apply(request, enhancement)
        elif not (approved or request.settled or request.rewritten):
            enhancement = await self._translate(request, snap, image)
            request = _apply(request, enhancement)
        request = await self._store_image(request, image)
        if mode is Mode.REVIEW and enhancement is not None:
            return await self._draft(request, enhancement, image)
        if not approved:
            why = self._hold_reason(request, snap)
            if why is not None:
                held = await self.holds.hold_request(request, why, snap.moderation)
                await self.inputs.due(request.image_ref, KEEP_SECONDS)  # unless approved by then
                return replace(held, enhancement=enhancement)
        return await self._enqueue(request, snap, policy, model, image, enhancement)

    # --------------------------------------------------------------- the member

    @staticmethod
    def _check_open(snap: Snapshot) -> None:
        state = snap.maintenance
        if state:
            if state.get("reason"):
                text = _(
                    "Reelbot is not taking new videos right now; its queue is under maintenance: "
                    "{reason} Nothing was queued; please try again later.",
                    reason=state["reason"],
                )
            else:
                text = _(
                    "Reelbot is not taking new videos right now; its queue is under maintenance. "
                    "Nothing was queued; please try again later."
                )
            raise Refused(text, reason="maintenance")

    @staticmethod
    def _check_member(request: VideoRequest, snap: Snapshot) -> None:
        if request.missing_permissions:
            raise Refused(
                _(
                    "I cannot post videos in this channel: I am missing {permissions}. "
                    "Ask a server admin to give Reelbot these permissions here, or use another channel.",
                    # Discord's names of the permissions (bot.channels.REQUIRED_PERMISSIONS)
                    permissions=", ".join(_(name) for name in request.missing_permissions),
                ),
                reason="permissions",
            )
        channels = snap.moderation.channels
        if channels and request.channel_id not in channels:
            allowed = ", ".join(f"<#{c}>" for c in channels)
            raise Refused(
                _("Videos are made in {channels} on this server; ask there.", channels=allowed),
                reason="channel",
            )
        until = snap.standing.cooldown_until
        if until:
            raise Refused(
                _(
                    "Several of your requests were refused by the content filter, so you are paused "
                    "until {until}.",
                    until=relative(until),
                ),
                reason="filter",
            )

    def _model(self, request: VideoRequest, snap: Snapshot) -> ModelId:
        """The model that renders the request; an Extend only where its model is running."""
        if request.extend_ref is not None and request.model not in snap.served:
            raise Refused(
                _(
                    "Extend continues a clip with the image-to-video model `{model}`, and no "
                    "worker runs it right now; try again when one does.",
                    model=request.model,
                ),
                reason="model",
            )
        return choose_model(
            request.model,
            request.with_image,
            snap.served,
            self.default_models,
            request.length,
            request.shape,
        )

    def _mode(self, request: VideoRequest, snap: Snapshot) -> Mode:
        """The member's choice, else the guild's default, else the deployment's; never for a
        settled or approved prompt, and a default never asks a bot that cannot enhance."""
        if request.settled or request.approved_by is not None:
            return Mode.OFF
        if request.enhance:
            return Mode(request.enhance)
        if not self.enhancer.available:
            return Mode.OFF
        chosen = snap.config.enhance
        return Mode(chosen) if chosen else self.enhancer.settings.default_mode

    # ------------------------------------------------------------------- image

    async def _image(self, request: VideoRequest, model: ModelId) -> Image | None:
        recipe = recipe_for(model)
        if request.attachment is not None:
            try:
                accepted = await self.images(request.attachment, _frame(recipe, request.shape))
            except AttachmentRejected as exc:
                raise Refused(str(exc), reason="attachment") from None
            return Image(accepted.png, accepted.preview_png)
        if request.image_ref is None or request.approved_by is not None:
            return None  # an approved request's image was seen by the moderator: no need to read it
        try:
            # a Re-roll or Remix stores a copy for its own job: every job owns its input
            return Image(await self.store.get(request.image_ref), stored=request.source_job is None)
        except StorageError:
            raise Refused(
                _("The image of this video has expired from storage; start again with /video and the image."),
                reason="attachment",
            ) from None

    async def _store_image(self, request: VideoRequest, image: Image | None) -> VideoRequest:
        """``request`` with its job id chosen and its image (if new) in storage."""
        job_id = request.job_id or new_job_id()
        if image is None or image.stored:
            return replace(request, job_id=job_id)
        try:
            stored = await self.store.put(f"inputs/{job_id}.png", image.png, "image/png")
        except StorageError as exc:
            log.error("could not store the input image for %s: %s", job_id, exc)
            raise Refused(
                _("I could not store your image just now; please try again."), reason="storage"
            ) from exc
        return replace(request, job_id=job_id, image_ref=stored.ref, attachment=None)

    # ------------------------------------------------------------------ screen

    async def _screen(self, request: VideoRequest, snap: Snapshot, image: Image | None) -> VideoRequest:
        """Screen everything the request would render with; returns it with what was flagged.

        Raises:
            Refused: the filter blocked something (a strike when it was the member's own).
        """
        config, found = snap.moderation, []
        for text in request.member_texts:
            verdict = await self.screen(text, config, Stage.MEMBER)
            found.append(await self._judged(request, snap, image, verdict))
        if request.rewritten:
            verdict = await self.screen(request.prompt, config, Stage.ENHANCED)
            if not verdict.allowed:
                raise Refused(
                    _(
                        "The enhanced prompt does not pass this server's filter any more ({reason}); "
                        "use your own words instead.",
                        reason=verdict.reason,
                    ),
                    reason="filter",
                )
            found.append(_("the enhanced prompt: {reason}", reason=verdict.reason) if verdict.flagged else "")
        if request.negative.strip():
            verdict = await self.screen(request.negative, config, Stage.MEMBER)
            found.append(await self._judged(request, snap, image, verdict, negative=True))
        if image is not None:
            verdict = await self.moderation.check_image(image.png, config, request.age_restricted)
            found.append(await self._judged(request, snap, image, verdict))
        return request.flagged(*found)

    async def _judged(
        self,
        request: VideoRequest,
        snap: Snapshot,
        image: Image | None,
        verdict: Verdict,
        negative: bool = False,
    ) -> str:
        """The flag a verdict adds ("" for none); a block is raised as the member's refusal."""
        reason = verdict.reason
        if negative:
            reason = _("in the negative prompt, {reason}", reason=verdict.reason)
        if verdict.action is Action.BLOCK:
            raise await self._refuse(request, snap, image, reason)
        return reason if verdict.flagged else ""

    async def _refuse(
        self, request: VideoRequest, snap: Snapshot, image: Image | None, reason: str
    ) -> Refused:
        """The filter's refusal: a strike and an appeal for the member's own words, else just why."""
        if not request.authored:
            return Refused(
                _("This video cannot be made again here: {reason}.", reason=reason), reason="filter"
            )
        standing = await self.moderation.strike(request.guild_id, request.user_id)
        appeal = None
        if snap.moderation.review_channel:
            kept = await self._store_image(request, image)
            appeal = await self.holds.keep_refusal(kept, reason)
            await self.inputs.due(kept.image_ref, APPEAL_WINDOW_SECONDS)
        text = _("This request cannot be made here: {reason}.", reason=reason)
        if standing.cooldown_until:
            until = relative(standing.cooldown_until)
            text += " " + _("Several requests were refused, so you are paused until {until}.", until=until)
        if appeal:
            text += appeal_hint()
        return Refused(text, reason="filter", appeal_id=appeal)

    # ----------------------------------------------------------------- enhance

    async def _enhance(
        self, request: VideoRequest, snap: Snapshot, image: Image | None, model: ModelId
    ) -> Enhancement:
        """The enhancement of the member's words, screened; their words when it falls back."""
        png = image.png if image is not None else None
        enhancement = await self.enhancer.enhance(
            request.guild_id, request.user_id, request.prompt, png, recipe_for(model).max_tokens
        )
        if not enhancement.enhanced:
            return enhancement
        verdict = await self.screen(enhancement.prompt, snap.moderation, Stage.ENHANCED)
        if not verdict.allowed:
            log.info("guild %s: the enhanced prompt was filtered (%s)", request.guild_id, verdict.reason)
            return Enhancement(enhancement.original, enhancement.original, False, _(FILTERED_ENHANCEMENT))
        if verdict.flagged:
            return replace(enhancement, flag=_("the enhanced prompt: {reason}", reason=verdict.reason))
        return enhancement

    async def _translate(self, request: VideoRequest, snap: Snapshot, image: Image | None) -> Enhancement:
        """The member's words in English for the model when they are clearly in another language
        (enhancement off), screened like the member's own; their words, with a note, otherwise.

        Raises:
            Refused: the English text is blocked by the filter (a strike: the words are theirs).
        """
        translation = await self.translator.to_english(request.guild_id, request.user_id, request.prompt)
        note = _(translation.note) if translation.note else ""
        if not translation.translated:
            return Enhancement(translation.original, translation.original, False, note)
        verdict = await self.screen(translation.prompt, snap.moderation, Stage.MEMBER)
        flag = await self._judged(request, snap, image, verdict, negative=False)
        return Enhancement(
            translation.original,
            translation.prompt,
            True,
            note,
            flag=flag,
            translated_from=translation.language or "",
        )

    async def _draft(self, request: VideoRequest, enhancement: Enhancement, image: Image | None) -> Drafted:
        """Keep the request until its member decides on the enhanced prompt."""
        before = replace(request, prompt=enhancement.original, original_prompt=None, rewritten=False)
        draft = Draft(
            draft_id=request.request_id,
            request=before,
            original=enhancement.original,
            enhanced=enhancement.prompt,
            note=enhancement.note,
            shortened=enhancement.shortened,
            summary=enhancement.summary,
        )
        await self.drafts.save(draft)
        await self.inputs.due(request.image_ref, DRAFT_SECONDS + 300)  # unless decided by then
        return Drafted(before, enhancement, draft.draft_id, image.preview if image else None)

    # -------------------------------------------------------------- hold, queue

    def _hold_reason(self, request: VideoRequest, snap: Snapshot) -> str | None:
        found = Verdict(Action.REVIEW, "; ".join(request.flags)) if request.flags else ALLOWED
        return self.moderation.hold_reason(snap.moderation.before_generation, found, snap.standing, "request")

    async def _enqueue(
        self,
        request: VideoRequest,
        snap: Snapshot,
        policy: MemberPolicy,
        model: ModelId,
        image: Image | None,
        enhancement: Enhancement | None,
    ) -> Queued:
        """Queue every take of the request (:mod:`bot.takes`): all of them, or none."""
        assert request.job_id is not None
        stored_here = image is not None and not image.stored and request.image_ref is not None
        try:
            queued = await self.takes.enqueue(request, model, policy, stored_here)
        except ContractError as exc:
            raise Refused(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", reason="input") from None
        except LimitReached as refusal:
            text = await self.limits.explain(
                refusal, request.member, policy, model.value, request.takes, need(request)
            )
            raise Refused(text, reason="limit") from None
        first = queued[0]
        if first.replayed and stored_here and request.image_ref != first.job.spec.image_ref:
            await self._discard(request.image_ref)
        for number, enqueued in enumerate(queued, 1):
            if enqueued.replayed:
                continue
            label = f"{number}/{request.takes}" if request.takes > 1 else None
            await self.jobs.record_queued(
                enqueued.job,
                request.flags,
                take=label,
                extends=request.extend_of,
                translated=request.translated_from,
            )
        position = await self.queue.position(first.job.id, snap.lanes[model])
        preview = image.preview if image is not None else None
        takes = tuple(e.job for e in queued) if request.takes > 1 else ()
        return Queued(request, first.job, position, first.replayed, enhancement, preview, takes)

    async def _replayed(self, request: VideoRequest, job_id: str) -> Queued:
        try:
            job = await self.queue.get(job_id)
        except (JobNotFound, ContractError):
            raise Refused(
                _("This request was already handled; run the command again."), reason="replay"
            ) from None
        return Queued(request, job, await self.queue.position(job.id), replayed=True)

    async def _discard(self, image_ref: str | None) -> None:
        """Drop an input image stored for a request that was not queued."""
        await self.inputs.delete(image_ref)


def _frame(recipe: Recipe, shape: str | None) -> Frame:
    """The frame an attached image is fitted to: the model's, of the shape asked for, or one that
    keeps the image's own shape where the model makes it (CogVideoX 1.5 image-to-video)."""
    if (shape or recipe.default_shape(with_image=True)) == "image":
        return lambda width, height: recipe.frame_size("image", width / height)
    return recipe.frame_size(shape)


def _readable(request: VideoRequest) -> VideoRequest:
    """``request`` with what shows nothing taken out of its texts.

    Raises:
        Refused: the prompt has no letter or digit left.
    """
    prompt = visible(request.prompt)
    if not has_words(prompt):
        if not prompt:
            text = _(
                "Your prompt is empty once invisible characters are taken out, which gives the model "
                "nothing to follow. Describe the video in words, for example: a red kite over a windy beach."
            )
        else:
            text = _(
                "Your prompt is only symbols, punctuation or emoji once invisible characters are taken "
                "out, which gives the model nothing to follow. Describe the video in words, for example: "
                "a red kite over a windy beach."
            )
        raise Refused(text, reason="input")
    original = visible(request.original_prompt) if request.original_prompt else None
    return replace(
        request, prompt=prompt, original_prompt=original or None, negative=visible(request.negative)
    )


def _apply(request: VideoRequest, enhancement: Enhancement) -> VideoRequest:
    """``request`` with the enhanced prompt (the member's words kept alongside) and its flag."""
    flagged = request.flagged(enhancement.flag) if enhancement.flag else request
    if not enhancement.enhanced:
        return flagged
    return replace(
        flagged,
        prompt=enhancement.prompt,
        original_prompt=enhancement.original,
        rewritten=True,
        translated_from=enhancement.translated_from or None,
    )
