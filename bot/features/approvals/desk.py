"""Carrying out moderators' decisions, and sending members' appeals to them.

A decision is recorded once (:meth:`ApprovalStore.decide`), then carried out: an approved
request or appeal goes back to the request pipeline as a new request marked approved; an
approved clip is posted; a rejection is told to the member in the channel they asked in and
a rejected clip is removed from storage. Every decision is written to the audit log and the
guild's mod-log channel. A decision that could not be carried out because Discord or Redis
failed is undone, so a moderator can make it again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

import discord

from bot.audit import AuditLog
from bot.channels import ChannelError, Channels, DiscordDown
from bot.errors import UserFacingError
from bot.features.approvals.cards import already_decided, decided_line
from bot.features.approvals.holds import Holds, ReviewChannelMissing
from bot.features.approvals.store import APPEALS_PER_DAY, KEEP_SECONDS, ApprovalStore, Kind, Pending
from bot.features.video.replies import Replies
from bot.fmt import clip_text
from bot.i18n import _, for_everyone
from bot.inputs import InputJanitor
from bot.jobs import ClipState
from bot.modconfig import ModerationConfig, ModerationStore
from bot.pipeline import RequestPipeline
from bot.requests import Member, Origin, Queued
from inference.contract import JobRecord
from inference.jobqueue import JobNotFound, JobQueue

log = logging.getLogger(__name__)


class ClipPoster(Protocol):
    """What the desk needs from delivery: post an approved clip, or refuse one."""

    async def post_clip(self, job: JobRecord, *, approved: bool = False) -> None: ...

    async def refuse(self, job: JobRecord, reason: str, state: ClipState) -> None: ...


class ApprovalDesk:
    """Moderators' decisions and members' appeals, for every guild."""

    def __init__(
        self,
        *,
        approvals: ApprovalStore,
        holds: Holds,
        pipeline: RequestPipeline,
        clips: ClipPoster,
        replies: Replies,
        channels: Channels,
        queue: JobQueue,
        inputs: InputJanitor,
        audit: AuditLog,
    ) -> None:
        self.approvals, self.holds, self.pipeline, self.clips = approvals, holds, pipeline, clips
        self.replies, self.channels, self.queue, self.audit = replies, channels, queue, audit
        self.inputs = inputs
        self.settings = ModerationStore(queue.redis, queue.keys)

    async def decide(self, pending: Pending, by: Member, *, approve: bool, reason: str = "") -> str:
        """Record one moderator's decision and carry it out; returns what to tell them."""
        if not await self.approvals.decide(pending.id, approve, by.user_id, reason.strip()):
            return already_decided(await self.approvals.get(pending.id))
        decided = await self.approvals.get(pending.id)
        if decided is None:
            return _("This approval has expired.")
        try:
            told = await (self._approve(decided) if approve else self._reject(decided))
        except DiscordDown:
            await self.approvals.reopen(decided.id)
            return _("Discord did not take it just now, so nothing was decided; press the button again soon.")
        except Exception:
            await self.approvals.reopen(decided.id)
            raise
        config = await self.settings.load(decided.guild_id)
        detail = f"{decided.kind.value}: {decided.reason}".strip()
        await self.audit.record(decided.guild_id, decided.state, by.user_id, decided.job_id, detail)
        await self.holds.refresh_card(decided, config)
        with for_everyone():  # the mod-log channel is read by every moderator
            await self._log_line(decided, config)
        return told

    async def appeal(self, pending: Pending) -> str:
        """Send a refused request to the moderators (once; a few a day)."""
        outcome = await self.approvals.send_appeal(pending)
        if outcome == "already":
            return _("You already appealed this; the moderators will decide.")
        if outcome == "spent":
            raise UserFacingError(
                _("You have sent your {count} appeals for today; try again tomorrow.", count=APPEALS_PER_DAY),
                reason="appeal",
            )
        if outcome == "gone":
            raise UserFacingError(
                _("This refusal has expired; it can no longer be appealed."), reason="appeal"
            )
        config = await self.settings.load(pending.guild_id)
        if pending.request is not None:  # its image now waits for the moderators' decision
            await self.inputs.due(pending.request.image_ref, KEEP_SECONDS)
        try:
            await self.holds.post_card(replace(pending, state="pending"), config, pending.channel_id)
        except (ReviewChannelMissing, ChannelError) as exc:
            await self.approvals.withdraw_appeal(pending)
            raise UserFacingError(_appeal_not_sent(exc), reason="appeal") from None
        return _("Sent to the moderators. You will be mentioned in the channel when they decide.")

    # ---------------------------------------------------------------- carrying out

    async def _approve(self, pending: Pending) -> str:
        if pending.kind is Kind.CLIP:
            job = await self._job(pending)
            if job is None:
                return _("Approved, but job `{job}` has expired.", job=pending.job_id)
            with for_everyone():  # the clip and its card are posted for everyone
                await self.clips.post_clip(job, approved=True)
            return _("Approved: the clip of `{job}` is posted.", job=pending.job_id)
        if pending.request is None:
            return _("Approved, but the request was not kept; ask the member to try again.")
        origin = Origin.APPEAL if pending.kind is Kind.APPEAL else Origin.APPROVAL
        request = replace(pending.request, origin=origin, approved_by=pending.decided_by)
        # what the pipeline says goes to the member in their channel: the server's language
        with for_everyone():
            try:
                outcome = await self.pipeline.run(request)
            except UserFacingError as exc:
                told = _(
                    "⚠️ <@{member}> a moderator approved your request, but it could not be queued: {error}",
                    member=pending.user_id,
                    error=exc,
                )
                await self._tell(pending, told)
                return _("Approved, but it could not be queued: {error}", error=exc)
            assert isinstance(outcome, Queued), "an approved request is neither held nor drafted"
            prefix = _("✅ A moderator approved your request.") + " "
            await self.replies.post_statuses(
                pending.channel_id, outcome, discord.Object(int(pending.user_id)), prefix
            )
        ids = ", ".join(f"`{job.id}`" for job in outcome.jobs)
        if len(outcome.jobs) == 1:
            return _("Approved: {jobs} is queued.", jobs=ids)
        return _("Approved: {jobs} are queued.", jobs=ids)

    async def _reject(self, pending: Pending) -> str:
        with for_everyone():  # told to the member in their channel
            if pending.kind is Kind.CLIP:
                job = await self._job(pending)
                if job is not None:
                    await self.clips.refuse(job, _clip_rejected(pending), ClipState.REJECTED)
            else:
                await self._tell(pending, _request_rejected(pending))
                await self._discard_input(pending)
        return _("Rejected `{job}`; <@{member}> was told why.", job=pending.job_id, member=pending.user_id)

    async def _job(self, pending: Pending) -> JobRecord | None:
        try:
            return await self.queue.get(pending.job_id)
        except JobNotFound:
            return None

    async def _discard_input(self, pending: Pending) -> None:
        await self.inputs.delete(pending.request.image_ref if pending.request is not None else None)

    async def _tell(self, pending: Pending, text: str) -> None:
        mention = discord.AllowedMentions(users=[discord.Object(int(pending.user_id))])
        try:
            await self.channels.send(pending.channel_id, content=clip_text(text), allowed_mentions=mention)
        except ChannelError as exc:
            log.warning("could not tell member %s about approval %s: %s", pending.user_id, pending.id, exc)

    async def _log_line(self, pending: Pending, config: ModerationConfig) -> None:
        if not config.log_channel:
            return
        try:
            await self.channels.send(
                config.log_channel,
                content=clip_text(decided_line(pending)),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except ChannelError as exc:
            log.warning("could not write to the mod-log channel %s: %s", config.log_channel, exc)


def _appeal_not_sent(exc: Exception) -> str:
    """Why an appeal did not reach the moderators (the English keeps its old words)."""
    if not isinstance(exc, ReviewChannelMissing):
        return _(
            "This appeal could not be sent: Discord did not take it just now; please try again in a minute."
        )
    if exc.unreachable:
        return _(
            "This appeal could not be sent: it needs a moderator's approval, but I cannot post in "
            "this server's review channel; its admins have been told."
        )
    return _(
        "This appeal could not be sent: it needs a moderator's approval, but this server has no "
        "review channel yet; an admin can choose one with `/settings moderation review_channel:`."
    )


def _clip_rejected(pending: Pending) -> str:
    """Why a clip was not posted, as delivery completes the sentence."""
    if pending.reason:
        return _("a moderator did not approve the clip: {reason}", reason=pending.reason)
    return _("a moderator did not approve the clip.")


def _request_rejected(pending: Pending) -> str:
    """What the member is told in their channel when a moderator rejects their request."""
    if pending.reason:
        return _(
            "🚫 <@{member}> a moderator did not approve your video request `{job}`: {reason}",
            member=pending.user_id,
            job=pending.job_id,
            reason=pending.reason,
        )
    return _(
        "🚫 <@{member}> a moderator did not approve your video request `{job}`.",
        member=pending.user_id,
        job=pending.job_id,
    )
