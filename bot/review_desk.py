"""The moderators' desk: holding requests and clips for approval, carrying out decisions, appeals.

This is the Discord-facing half of moderation: it posts review messages in the guild's review
channel, checks who may decide, tells the member the outcome in the channel they asked in,
and writes every decision to the audit log and the guild's mod-log channel.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot import messages
from bot.approvals import ApprovalStore, Kind, Pending, approval_id, request_json
from bot.audit import AuditLog
from bot.errors import UserFacingError
from bot.limits import Requester
from bot.moderation import APPEALS_PER_DAY, Moderation
from bot.moderation_views import appeal_view, message_kwargs
from bot.screening import ALLOWED, Action, Verdict
from bot.service import Submitted, VideoRequest
from bot.views import status_buttons
from inference.jobqueue import JobNotFound, new_job_id

if TYPE_CHECKING:
    from bot.app import ReelBot

log = logging.getLogger(__name__)

NO_REVIEW_CHANNEL = (
    "needs a moderator's approval, but this server has no review channel yet; "
    "an admin can choose one with `/settings moderation review_channel:`"
)


class FilterBlocked(UserFacingError):
    """The filter refused a request; ``appeal_id`` lets the member send it to moderators."""

    def __init__(self, message: str, appeal_id: str | None = None) -> None:
        super().__init__(message, reason="filter")
        self.appeal_id = appeal_id

    def view(self) -> discord.ui.View | None:
        return appeal_view(self.appeal_id) if self.appeal_id else None


class ReviewDesk:
    """Moderator reviews for every guild the bot is in."""

    def __init__(self, bot: ReelBot) -> None:
        self.bot = bot
        self.service = bot.service
        self.moderation: Moderation = bot.service.moderation
        self.approvals = ApprovalStore(self.service.redis, self.service.keys)
        self.audit = AuditLog(self.service.redis, self.service.keys)

    # ------------------------------------------------------------- who may act

    async def require_moderator(self, interaction: discord.Interaction) -> None:
        """Raise unless the clicker moderates: Manage Messages here, or the moderator role now."""
        permissions = interaction.permissions
        if permissions.manage_messages or permissions.administrator:
            return
        config = await self.moderation.config(str(interaction.guild_id))
        roles = {str(r.id) for r in getattr(interaction.user, "roles", ())}
        if config.moderator_role and config.moderator_role in roles:
            return
        raise UserFacingError(
            "Deciding reviews needs the Manage Messages permission or this server's moderator role."
        )

    async def check_member(self, who: Requester, channel_id: str) -> None:
        """Refuse a member in a filter cooldown, or a channel /video is not allowed in."""
        await self.service.check_open()
        config = await self.moderation.config(who.guild_id)
        if config.channels and channel_id not in config.channels:
            allowed = ", ".join(f"<#{c}>" for c in config.channels)
            raise UserFacingError(f"Videos are made in {allowed} on this server; ask there.")
        standing = await self.moderation.standing(who.guild_id, who.user_id)
        if standing.cooldown_until:
            raise UserFacingError(
                f"Several of your requests were refused by the content filter, so you are paused "
                f"until {messages.relative(standing.cooldown_until)}."
            )

    # ------------------------------------------------------------------ refusals

    async def refuse(self, request: VideoRequest, reason: str) -> FilterBlocked:
        """Count a strike and build the refusal, with an Appeal button when appeals can be sent."""
        standing = await self.moderation.strike(request.guild_id, request.user_id)
        config = await self.moderation.config(request.guild_id)
        appeal = None
        if config.review_channel:
            appeal = (await self._keep(Kind.APPEAL, request, reason, state="draft")).id
        text = f"This request cannot be made here: {reason}."
        if standing.cooldown_until:
            until = messages.relative(standing.cooldown_until)
            text += f" Several requests were refused, so you are paused until {until}."
        if appeal:
            text += f" If you think this is wrong, press Appeal (up to {APPEALS_PER_DAY} a day)."
        return FilterBlocked(text, appeal)

    async def appeal(self, appeal: str, user_id: str) -> str:
        """Send a refused request to the moderators."""
        pending = await self.approvals.get(appeal)
        if pending is None or pending.kind is not Kind.APPEAL or pending.user_id != user_id:
            raise UserFacingError("There is no refusal of yours to appeal here.")
        if pending.state != "draft":
            return "You already appealed this; the moderators will decide."
        if not await self.moderation.spend_appeal(pending.guild_id, user_id):
            raise UserFacingError(
                f"You have sent your {APPEALS_PER_DAY} appeals for today; try again tomorrow."
            )
        if not await self.service.redis.hsetnx(self.service.keys.approval(appeal), "appealed", "1"):
            return "You already appealed this; the moderators will decide."
        await self.service.redis.hset(self.service.keys.approval(appeal), "state", "pending")
        pending = await self.approvals.get(appeal)
        if pending is None or not await self._post_review(pending):
            raise UserFacingError("This server has no review channel, so appeals cannot be sent.")
        return "Sent to the moderators. You will be mentioned in the channel when they decide."

    # --------------------------------------------------------------------- holds

    async def submit_or_hold(self, request: VideoRequest, reasons: list[str]) -> Submitted | str:
        """Queue the request, or hold it for a moderator when the guild's approval mode, what the
        filter flagged (``reasons``) or the member's standing says so; a hold returns the
        member's reply.

        Raises:
            UserFacingError: a limit refused it, or it needs approval and there is no review channel.
        """
        config = await self.moderation.config(request.guild_id)
        standing = await self.moderation.standing(request.guild_id, request.user_id)
        found = Verdict(Action.REVIEW, "; ".join(reasons)) if reasons else ALLOWED
        why = self.moderation.hold_reason(config.before_generation, found, standing, "request")
        if why is not None:
            return await self.hold_request(request, why)
        return await self.service.submit(request, await self.service.limits.policy(request.requester))

    async def hold_request(self, request: VideoRequest, reasons: str) -> str:
        """Keep a request (its image stored) for a moderator; returns the member's reply.

        Raises:
            UserFacingError: the guild has no review channel.
        """
        pending = await self._keep(Kind.REQUEST, request, reasons)
        job_id = pending.job_id
        if not await self._post_review(pending):
            raise UserFacingError(f"This request {NO_REVIEW_CHANNEL}.")
        return (
            f"Your video `{job_id}` waits for a moderator's approval ({reasons}). "
            "You will be mentioned here when they decide."
        )

    async def _keep(self, kind: Kind, request: VideoRequest, reasons: str, state: str = "pending") -> Pending:
        """Keep ``request`` for a review of ``kind``, its job id chosen and its image stored."""
        job_id = request.job_id or new_job_id()
        request = await self.service.store_input(replace(request, job_id=job_id), job_id)
        return await self.approvals.open(
            Pending(
                id=approval_id(kind, job_id),
                kind=kind,
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                user_id=request.user_id,
                job_id=job_id,
                prompt=request.prompt,
                original_prompt=request.original_prompt or "",
                reasons=reasons,
                request=request_json(request),
                state=state,
            )
        )

    async def hold_clip(self, job: Any, reasons: str, clip: bytes | None) -> bool:
        """Put a finished clip in front of the moderators; False when there is no review channel."""
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
            return True  # posted before a restart
        return await self._post_review(pending, clip)

    async def _post_review(self, pending: Pending, clip: bytes | None = None) -> bool:
        config = await self.moderation.config(pending.guild_id)
        if not config.review_channel:
            return False
        channel = await self._channel(config.review_channel)
        if channel is None:
            return False
        sent = await channel.send(**message_kwargs(pending, clip))
        await self.approvals.set_message(pending.id, str(sent.id))
        return True

    # ------------------------------------------------------------------ decisions

    async def already(self, approval: str) -> str:
        pending = await self.approvals.get(approval)
        if pending is None:
            return "This review has expired."
        return f"<@{pending.decided_by}> already {pending.state} this."

    async def decide(
        self, approval: str, interaction: discord.Interaction, *, approve: bool, reason: str = ""
    ) -> str:
        """Record one moderator's decision and carry it out; returns what to tell them."""
        by = str(interaction.user.id)
        if not await self.approvals.decide(approval, approve, by, reason.strip()):
            return await self.already(approval)
        pending = await self.approvals.get(approval)
        if pending is None:
            return "This review has expired."
        await self.audit.record(
            pending.guild_id,
            pending.state,
            by,
            pending.job_id,
            f"{pending.kind.value}: {pending.reason}".strip(),
        )
        await self._refresh_review(pending)
        await self._log_line(pending)
        if approve:
            return await self._carry_out(pending)
        await self._tell_rejected(pending)
        return f"Rejected `{pending.job_id}`; <@{pending.user_id}> was told why."

    async def _carry_out(self, pending: Pending) -> str:
        if pending.kind is Kind.CLIP:
            try:
                job = await self.service.queue.get(pending.job_id)
            except JobNotFound:
                return f"Approved, but job `{pending.job_id}` has expired."
            await self.bot.deliverer.deliver(job, approved=True)
            return f"Approved: the clip of `{pending.job_id}` is posted."
        request = pending.video_request()
        who = Requester(request.guild_id, request.user_id, request.roles, request.moderator)
        try:
            submitted = await self.service.submit(request, await self.service.limits.policy(who))
        except UserFacingError as exc:
            await self._tell(
                pending,
                f"⚠️ <@{pending.user_id}> a moderator approved your request, but it could not be "
                f"queued: {exc}",
            )
            return f"Approved, but it could not be queued: {exc}"
        line = "✅ A moderator approved your request. " + messages.queued_line(
            submitted.job, submitted.position
        )
        sent = await self._tell(pending, line, view=status_buttons(submitted.job.id))
        if sent is not None:
            await self.service.record_post(submitted.job.id, "status", str(sent.id), only_if_new=True)
        return f"Approved: `{submitted.job.id}` is queued."

    async def _tell_rejected(self, pending: Pending) -> None:
        said = f": {pending.reason}" if pending.reason else "."
        if pending.kind is Kind.CLIP:
            try:
                job = await self.service.queue.get(pending.job_id)
            except JobNotFound:
                return
            await self.bot.deliverer.refuse(job, f"a moderator did not approve the clip{said}")
            return
        await self._tell(
            pending,
            f"🚫 <@{pending.user_id}> a moderator did not approve your video request "
            f"`{pending.job_id}`{said}",
        )

    async def _tell(self, pending: Pending, text: str, **kwargs: Any) -> discord.Message | None:
        channel = await self._channel(pending.channel_id)
        if channel is None:
            return None
        mention = discord.AllowedMentions(users=[discord.Object(int(pending.user_id))])
        try:
            sent: discord.Message = await channel.send(
                messages.clip_text(text), allowed_mentions=mention, **kwargs
            )
            return sent
        except discord.HTTPException as exc:
            log.warning("could not tell member %s about review %s: %s", pending.user_id, pending.id, exc)
            return None

    async def _refresh_review(self, pending: Pending) -> None:
        config = await self.moderation.config(pending.guild_id)
        if not (config.review_channel and pending.message_id):
            return
        channel = await self._channel(config.review_channel)
        if channel is None:
            return
        try:
            await channel.get_partial_message(int(pending.message_id)).edit(
                embed=message_kwargs(pending)["embed"], view=None
            )
        except discord.HTTPException as exc:
            log.warning("could not update review message %s: %s", pending.message_id, exc)

    async def _log_line(self, pending: Pending) -> None:
        config = await self.moderation.config(pending.guild_id)
        if not config.log_channel:
            return
        channel = await self._channel(config.log_channel)
        if channel is None:
            return
        said = f": {pending.reason}" if pending.reason else ""
        text = (
            f"{'✅' if pending.state == 'approved' else '⛔'} <@{pending.decided_by}> {pending.state} "
            f"the {pending.kind.value} `{pending.job_id}` of <@{pending.user_id}>{said}"
        )
        try:
            await channel.send(messages.clip_text(text), allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not write to the mod-log channel %s: %s", config.log_channel, exc)

    async def _channel(self, channel_id: str) -> Any:
        channel = self.bot.get_channel(int(channel_id))
        if channel is not None:
            return channel
        try:
            return await self.bot.fetch_channel(int(channel_id))
        except discord.HTTPException:
            log.warning("channel %s is gone or hidden", channel_id)
            return None
