"""What happens to a prompt between /video and the queue: screening, enhancement and review.

``/video`` screens the member's words, then, by the member's choice or the guild's default:
``off`` queues them as they are; ``on`` enhances them (see :mod:`bot.enhance`), screens the
enhanced text again and queues it; ``review`` enhances, screens, and holds the request until
the member presses Generate, Use original or submits an edit (:mod:`bot.reviews`).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.audit import AuditLog
from bot.enhance import Enhancement, Enhancer, Mode
from bot.errors import UserFacingError
from bot.guildconfig import GuildConfigStore
from bot.reviews import PendingVideo, ReviewStore
from bot.screening import PromptScreen, Stage, Verdict, allow_all
from bot.service import VideoRequest
from inference.storage import BlobStore, StorageError

log = logging.getLogger(__name__)

FILTERED_ENHANCEMENT = "The enhanced prompt did not pass this server's filter, so I used your words."


class ReviewGone(UserFacingError):
    """The review expired or its video was already made."""


class PromptService:
    """Screening, enhancement and review for /video prompts."""

    def __init__(
        self,
        enhancer: Enhancer,
        reviews: ReviewStore,
        configs: GuildConfigStore,
        store: BlobStore,
        screen: PromptScreen = allow_all,
    ) -> None:
        self.enhancer, self.reviews, self.configs, self.store = enhancer, reviews, configs, store
        self.screen = screen
        self.audit = AuditLog(configs.redis, configs.keys)

    async def mode(self, guild_id: str, asked: str | None) -> Mode:
        """The member's choice, else the guild's default, else the deployment's.

        A default never asks for enhancement on a bot that cannot enhance (no credentials):
        only a member who asks for it explicitly is told it is unavailable.
        """
        if asked:
            return Mode(asked)
        if not self.enhancer.available:
            return Mode.OFF
        chosen = (await self.configs.load(guild_id)).enhance
        return Mode(chosen) if chosen else self.enhancer.settings.default_mode

    async def set_default(self, guild_id: str, mode: Mode | None, by: str) -> None:
        """Set the guild's /video enhance default (``None``: the deployment's), and log who did."""
        await self.configs.set_enhance(guild_id, None if mode is None else mode.value)
        detail = f"default {mode.value}" if mode else "default reset"
        await self.audit.record(guild_id, "enhance", by, "", detail)

    async def describe(self, guild_id: str) -> str:
        """The /settings show line about enhancement: the default in effect and where it comes from."""
        if not self.enhancer.available:
            return (
                "**Prompt enhancement**: unavailable on this bot "
                f"({self.enhancer.unavailable or 'not configured'}); prompts are used as written."
            )
        chosen = (await self.configs.load(guild_id)).enhance
        mode = chosen or self.enhancer.settings.default_mode.value
        source = "set here" if chosen else "default"
        return (
            f"**Prompt enhancement**: **{mode}** ({source}) with `{self.enhancer.settings.model_id}`; "
            "members can choose per video with `/video enhance:`. Change it with `/settings enhance`."
        )

    async def screen_member(self, text: str, guild_id: str) -> Verdict:
        """The screen's verdict on the member's own words."""
        return await self.screen(text, guild_id, Stage.MEMBER)

    async def check_member_words(self, text: str, guild_id: str) -> Verdict:
        """Screen the member's own words; returns the verdict when they may go on.

        Raises:
            UserFacingError: the screen refused them, with its reason.
        """
        verdict = await self.screen_member(text, guild_id)
        if not verdict.allowed:
            raise UserFacingError(
                f"This prompt cannot be used here: {verdict.reason or 'it did not pass the server filter'}. "
                "Change it and try again."
            )
        return verdict

    async def enhance(self, request: VideoRequest, image_png: bytes | None, max_tokens: int) -> Enhancement:
        """The enhancement of ``request``'s prompt, screened; the member's words when it falls back."""
        enhancement = await self.enhancer.enhance(
            request.guild_id, request.user_id, request.prompt, image_png, max_tokens
        )
        if enhancement.enhanced:
            verdict = await self.screen(enhancement.prompt, request.guild_id, Stage.ENHANCED)
            if not verdict.allowed:
                log.info("guild %s: the enhanced prompt was filtered (%s)", request.guild_id, verdict.reason)
                return Enhancement(enhancement.original, enhancement.original, False, FILTERED_ENHANCEMENT)
            if verdict.flagged:
                return replace(enhancement, flag=f"the enhanced prompt: {verdict.reason}")
        return enhancement

    @staticmethod
    def apply(request: VideoRequest, enhancement: Enhancement) -> VideoRequest:
        """``request`` with the enhanced prompt, keeping the member's words alongside."""
        if not enhancement.enhanced:
            return request
        return replace(request, prompt=enhancement.prompt, original_prompt=enhancement.original)

    async def hold(self, request: VideoRequest, enhancement: Enhancement, flags: str = "") -> PendingVideo:
        """Keep ``request`` (its image stored) until its member reviews ``enhancement``.

        Raises:
            UserFacingError: the image could not be stored.
        """
        image_ref = request.image_ref
        if request.image_png is not None:
            try:
                name = f"inputs/review-{request.request_id}.png"
                stored = await self.store.put(name, request.image_png, "image/png")
            except StorageError as exc:
                log.error("could not store the image of review %s: %s", request.request_id, exc)
                raise UserFacingError("I could not store your image just now; please try again.") from exc
            image_ref = stored.ref
        pending = PendingVideo(
            review_id=request.request_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            user_id=request.user_id,
            original=enhancement.original,
            enhanced=enhancement.prompt,
            note=enhancement.note,
            shortened=enhancement.shortened,
            negative=request.negative,
            seed=request.seed,
            model=request.model,
            image_ref=image_ref,
            roles=request.roles,
            moderator=request.moderator,
            flags=flags,
        )
        await self.reviews.save(pending)
        return pending

    async def peek(self, review_id: str, user_id: str) -> PendingVideo:
        """A waiting review, for its own member only.

        Raises:
            ReviewGone: it expired or was used.
            UserFacingError: someone else's review.
        """
        pending = await self.reviews.get(review_id)
        if pending is None:
            raise ReviewGone(_GONE)
        if pending.user_id != user_id:
            raise UserFacingError("Only the member who asked for this video can decide on its prompt.")
        return pending

    async def take(
        self, review_id: str, user_id: str, choice: str, edited: str = ""
    ) -> tuple[PendingVideo, VideoRequest]:
        """Decide a review: ``enhanced``, ``original`` or ``edited`` (with the member's text).

        Returns the review and the request to queue. The review is gone once taken, so a
        second press of any of its buttons makes no second video; :meth:`give_back` returns
        it when the video could not be queued.

        Raises:
            ReviewGone: it expired or was already decided.
            UserFacingError: someone else's review, or an edit the screen refused (the review
                stays, so the member can edit again).
        """
        waiting = await self.peek(review_id, user_id)
        if choice == "edited":
            edited = edited.strip()
            if not edited:
                raise UserFacingError("The prompt is empty; write what the video shows.")
            verdict = await self.check_member_words(edited, waiting.guild_id)
            if verdict.flagged:
                waiting = replace(waiting, flags="; ".join(filter(None, [waiting.flags, verdict.reason])))
        pending = await self.reviews.take(review_id)
        if pending is None:
            raise ReviewGone(_GONE)
        pending = replace(pending, flags=waiting.flags)
        prompt, original = {
            "enhanced": (pending.enhanced, pending.original if pending.differs else None),
            "original": (pending.original, None),
            "edited": (edited, pending.original if edited != pending.original else None),
        }[choice]
        return pending, VideoRequest(
            request_id=pending.review_id,
            guild_id=pending.guild_id,
            channel_id=pending.channel_id,
            user_id=pending.user_id,
            prompt=prompt,
            original_prompt=original,
            negative=pending.negative,
            seed=pending.seed,
            model=pending.model,
            image_ref=pending.image_ref,
            roles=pending.roles,
            moderator=pending.moderator,
        )

    async def give_back(self, pending: PendingVideo) -> None:
        """Let the member decide again after their video could not be queued (a limit, say)."""
        await self.reviews.put_back(pending)


_GONE = "This prompt review has expired or was already used. Run /video again to make a new one."
