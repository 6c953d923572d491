"""What moderators and members see of approvals: the card in the review channel, its buttons, the
Reject form, the Appeal button on a refusal, and the texts. Pure: builds messages, no I/O."""

from __future__ import annotations

import io
from typing import Any

import discord

from bot.features.approvals.store import APPEALS_PER_DAY, Kind, Pending
from bot.fmt import clip_text
from bot.i18n import N_, _
from bot.ui import Component, Field, form

_WAITING, _APPROVED, _REJECTED = 0xFEE75C, 0x57F287, 0xED4245
_TITLES = {
    Kind.REQUEST: N_("A video request waits for approval"),
    Kind.CLIP: N_("A finished clip waits for approval"),
    Kind.APPEAL: N_("A member appeals a refused request"),
}

# why a request or clip cannot wait for a moderator, as the end of a sentence ("the clip ..."):
# delivery builds its refusal from it; whole sentences are in holds.py and desk.py
NO_REVIEW_CHANNEL = N_(
    "needs a moderator's approval, but this server has no review channel yet; "
    "an admin can choose one with `/settings moderation review_channel:`"
)
REVIEW_CHANNEL_UNREACHABLE = N_(
    "needs a moderator's approval, but I cannot post in this server's review channel; "
    "its admins have been told"
)


def unreachable_notice(channel_id: str, detail: str) -> str:
    """What the admins are told when the review channel does not take the bot's cards."""
    return _(
        "I cannot post approval cards in the review channel <#{channel}> ({detail}), so requests "
        "and clips that need a moderator are refused. Give Reelbot View Channel, Send Messages, "
        "Attach Files and Embed Links there, or choose another channel with "
        "`/settings moderation review_channel:`.",
        channel=channel_id,
        detail=detail,
    )


def card_embed(pending: Pending) -> discord.Embed:
    """The card: member, prompts, job id, why it waits, and the decision once made."""
    colour = {"approved": _APPROVED, "rejected": _REJECTED}.get(pending.state, _WAITING)
    embed = discord.Embed(title=_(_TITLES[pending.kind]), colour=colour)
    embed.add_field(name=_("Member"), value=f"<@{pending.user_id}>")
    embed.add_field(name=_("Channel"), value=f"<#{pending.channel_id}>")
    embed.add_field(name=_("Job"), value=f"`{pending.job_id}`")
    embed.add_field(name=_("Prompt"), value=clip_text(pending.prompt, 1000), inline=False)
    if pending.original_prompt and pending.original_prompt != pending.prompt:
        embed.add_field(name=_("Their words"), value=clip_text(pending.original_prompt, 1000), inline=False)
    negative = pending.request.negative if pending.request is not None else ""
    if negative:
        embed.add_field(name=_("Negative prompt"), value=clip_text(negative, 1000), inline=False)
    if pending.reasons:
        embed.add_field(name=_("Why it is here"), value=clip_text(pending.reasons, 1000), inline=False)
    if pending.decided:
        said = f": {pending.reason}" if pending.reason else ""
        if pending.state == "approved":
            decision = _("Approved by <@{moderator}>{said}", moderator=pending.decided_by, said=said)
        else:
            decision = _("Rejected by <@{moderator}>{said}", moderator=pending.decided_by, said=said)
        embed.add_field(name=_("Decision"), value=decision)
    embed.set_footer(text=_("approval {id}", id=pending.id))
    return embed


def card_buttons(pending: Pending) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(
        Component("approve", pending.id, label=_("Approve"), emoji="✅", style=discord.ButtonStyle.success)
    )
    view.add_item(
        Component("reject", pending.id, label=_("Reject"), emoji="⛔", style=discord.ButtonStyle.danger)
    )
    return view


def card(pending: Pending, clip: bytes | None = None) -> dict[str, Any]:
    """What a card message carries: the embed, the buttons while undecided, the clip behind a spoiler."""
    kwargs: dict[str, Any] = {
        "embed": card_embed(pending),
        "allowed_mentions": discord.AllowedMentions.none(),
        "view": None if pending.decided else card_buttons(pending),
    }
    if clip is not None:
        name = f"SPOILER_reelbot-{pending.job_id}.mp4"
        kwargs["files"] = [discord.File(io.BytesIO(clip), filename=name, spoiler=True)]
    return kwargs


def reject_form(approval_id: str) -> discord.ui.Modal:
    """The reason a moderator gives, shown to the member and kept in the audit log."""
    reason = Field("reason", _("Reason (the member sees it)"), max_length=300, paragraph=False)
    return form("reject-form", approval_id, _("Reject"), reason)


def appeal_view(approval_id: str) -> discord.ui.View:
    """Under a refusal: send it to the moderators."""
    view = discord.ui.View(timeout=None)
    view.add_item(Component("appeal", approval_id, label=_("Appeal"), emoji="📨"))
    return view


def appeal_hint() -> str:
    """The sentence added to a refusal that can be appealed (with its leading space)."""
    return " " + _("If you think this is wrong, press Appeal (up to {count} a day).", count=APPEALS_PER_DAY)


def decided_line(pending: Pending) -> str:
    """The mod-log line for a decision."""
    said = f": {pending.reason}" if pending.reason else ""
    who = {"moderator": pending.decided_by, "job": pending.job_id, "member": pending.user_id, "said": said}
    approved = pending.state == "approved"
    if pending.kind is Kind.CLIP:
        if approved:
            return _("✅ <@{moderator}> approved the clip `{job}` of <@{member}>{said}", **who)
        return _("⛔ <@{moderator}> rejected the clip `{job}` of <@{member}>{said}", **who)
    if pending.kind is Kind.APPEAL:
        if approved:
            return _("✅ <@{moderator}> approved the appeal `{job}` of <@{member}>{said}", **who)
        return _("⛔ <@{moderator}> rejected the appeal `{job}` of <@{member}>{said}", **who)
    if approved:
        return _("✅ <@{moderator}> approved the request `{job}` of <@{member}>{said}", **who)
    return _("⛔ <@{moderator}> rejected the request `{job}` of <@{member}>{said}", **who)


def already_decided(pending: Pending | None) -> str:
    if pending is None:
        return _("This approval has expired.")
    if pending.state == "approved":
        return _("<@{moderator}> already approved this.", moderator=pending.decided_by)
    return _("<@{moderator}> already rejected this.", moderator=pending.decided_by)
