"""Putting requests and clips in front of a guild's moderators, and keeping refusals for appeal.

The request pipeline holds a request here when the guild's approval mode, what the filter
flagged or the member's standing asks for a moderator; delivery holds a finished clip here
for the same reasons. Each becomes an approval (:mod:`bot.features.approvals.store`) with a
card in the guild's review channel. When the guild has no review channel, or the bot cannot
post in it, the request or clip is refused with a clear reason, and in the second case the
guild's admins are told (once a day) what to fix.
"""

from __future__ import annotations

import logging

from bot.channels import ChannelError, Channels, DiscordDown, Unreachable
from bot.errors import Refused
from bot.features.approvals.cards import (
    NO_REVIEW_CHANNEL,
    REVIEW_CHANNEL_UNREACHABLE,
    card,
    unreachable_notice,
)
from bot.features.approvals.store import ApprovalStore, Kind, Pending, approval_id
from bot.i18n import _, for_everyone
from bot.inputs import APPEAL_WINDOW_SECONDS
from bot.modconfig import ModerationConfig
from bot.notices import AdminNotices
from bot.requests import Held, VideoRequest
from inference.contract import JobRecord

log = logging.getLogger(__name__)

#: the notice kind for a review channel the bot cannot post in
REVIEW_CHANNEL_PROBLEM = "review-channel"


class ReviewChannelMissing(Exception):
    """The guild has no review channel, or the bot cannot post in it (``unreachable``); ``why``
    says which, as the end of a sentence in the language of the moment ("the clip ...")."""

    def __init__(self, why: str, *, unreachable: bool = False) -> None:
        super().__init__(why)
        self.why, self.unreachable = why, unreachable


class Holds:
    """Approvals waiting for moderators, and their cards."""

    def __init__(self, approvals: ApprovalStore, channels: Channels, notices: AdminNotices) -> None:
        self.approvals, self.channels, self.notices = approvals, channels, notices

    async def hold_request(self, request: VideoRequest, reasons: str, config: ModerationConfig) -> Held:
        """Keep ``request`` (its job id chosen, its image stored) for a moderator.

        Raises:
            Refused: the guild has no review channel, or the bot cannot post in it.
        """
        assert request.job_id is not None, "the pipeline chooses the job id before holding"
        pending = await self.approvals.open(_pending(Kind.REQUEST, request, reasons, "pending"))
        try:
            await self.post_card(pending, config, request.channel_id)
        except ReviewChannelMissing as exc:
            await self.approvals.discard(pending.id)
            raise Refused(_request_cannot_wait(exc), reason="approval") from None
        except DiscordDown:
            await self.approvals.discard(pending.id)
            raise Refused(
                _(
                    "This request needs a moderator's approval, but Discord did not take it to the "
                    "moderators just now. Nothing was queued; please try again in a minute."
                ),
                reason="discord",
            ) from None
        return Held(request, request.job_id, reasons)

    async def keep_refusal(self, request: VideoRequest, reason: str) -> str:
        """Keep a refused request so its member can appeal it; returns the appeal's id."""
        assert request.job_id is not None, "the pipeline chooses the job id before keeping a refusal"
        # a refusal can be appealed for a day; sending the appeal keeps it for the moderators
        pending = await self.approvals.open(
            _pending(Kind.APPEAL, request, reason, "draft"), APPEAL_WINDOW_SECONDS
        )
        return pending.id

    async def hold_clip(
        self, job: JobRecord, reasons: str, clip: bytes | None, config: ModerationConfig
    ) -> None:
        """Put a finished clip in front of the moderators (once, across restarts).

        Raises:
            ReviewChannelMissing: nowhere to put it; the clip must be refused.
            DiscordDown: Discord failed; try again later.
        """
        pending = await self.approvals.open(
            Pending(
                id=approval_id(Kind.CLIP, job.id),
                kind=Kind.CLIP,
                guild_id=job.guild_id,
                channel_id=job.channel_id,
                user_id=job.user_id,
                job_id=job.id,
                prompt=job.spec.prompt,
                original_prompt=job.spec.original_prompt or "",
                reasons=reasons,
            )
        )
        if pending.message_id:
            return  # posted before a restart
        try:
            await self.post_card(pending, config, job.channel_id, clip)
        except ReviewChannelMissing:
            await self.approvals.discard(pending.id)
            raise

    async def post_card(
        self, pending: Pending, config: ModerationConfig, asked_in: str, clip: bytes | None = None
    ) -> None:
        """Post the card in the review channel.

        Raises:
            ReviewChannelMissing: no review channel, or the bot cannot post there (admins told).
            DiscordDown: Discord failed; try again later.
        """
        if not config.review_channel:
            raise ReviewChannelMissing(_(NO_REVIEW_CHANNEL))
        try:
            with for_everyone():  # the card is for the moderators, in the server's language
                message = card(pending, clip)
            sent = await self.channels.send(config.review_channel, **message)
        except Unreachable as exc:
            with for_everyone():
                notice = unreachable_notice(config.review_channel, exc.detail)
            await self.notices.tell(
                pending.guild_id,
                REVIEW_CHANNEL_PROBLEM,
                notice,
                log_channel=config.log_channel,
                fallback_channel=asked_in,
            )
            raise ReviewChannelMissing(_(REVIEW_CHANNEL_UNREACHABLE), unreachable=True) from exc
        await self.approvals.set_message(pending.id, str(sent.id))

    async def refresh_card(self, pending: Pending, config: ModerationConfig) -> None:
        """Show the decision on the card and take its buttons away (best effort)."""
        if not (config.review_channel and pending.message_id):
            return
        with for_everyone():
            decided = _decided_card(pending)
        try:
            await self.channels.edit(config.review_channel, pending.message_id, **decided)
        except ChannelError as exc:
            log.warning("could not update approval card %s: %s", pending.message_id, exc)


def _request_cannot_wait(exc: ReviewChannelMissing) -> str:
    """The refusal of a request that needs a moderator but cannot reach one."""
    if exc.unreachable:
        return _(
            "This request needs a moderator's approval, but I cannot post in this server's review "
            "channel; its admins have been told."
        )
    return _(
        "This request needs a moderator's approval, but this server has no review channel yet; "
        "an admin can choose one with `/settings moderation review_channel:`."
    )


def _decided_card(pending: Pending) -> dict[str, object]:
    kwargs = card(pending)
    return {"embed": kwargs["embed"], "view": None}


def _pending(kind: Kind, request: VideoRequest, reasons: str, state: str) -> Pending:
    assert request.job_id is not None
    return Pending(
        id=approval_id(kind, request.job_id),
        kind=kind,
        guild_id=request.guild_id,
        channel_id=request.channel_id,
        user_id=request.user_id,
        job_id=request.job_id,
        prompt=request.prompt,
        original_prompt=request.original_prompt or "",
        reasons=reasons,
        request=request,
        state=state,
    )
