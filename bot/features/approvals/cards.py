"""What moderators and members see of approvals: the card in the review channel, its buttons, the
Reject form, the Appeal button on a refusal, and the texts. Pure: builds messages, no I/O."""

from __future__ import annotations

import io
from typing import Any

import discord

from bot.features.approvals.store import APPEALS_PER_DAY, Kind, Pending
from bot.fmt import clip_text
from bot.ui import Component, Field, form

_WAITING, _APPROVED, _REJECTED = 0xFEE75C, 0x57F287, 0xED4245
_TITLES = {
    Kind.REQUEST: "A video request waits for approval",
    Kind.CLIP: "A finished clip waits for approval",
    Kind.APPEAL: "A member appeals a refused request",
}

NO_REVIEW_CHANNEL = (
    "needs a moderator's approval, but this server has no review channel yet; "
    "an admin can choose one with `/settings moderation review_channel:`"
)
REVIEW_CHANNEL_UNREACHABLE = (
    "needs a moderator's approval, but I cannot post in this server's review channel; "
    "its admins have been told"
)


def unreachable_notice(channel_id: str, detail: str) -> str:
    """What the admins are told when the review channel does not take the bot's cards."""
    return (
        f"I cannot post approval cards in the review channel <#{channel_id}> ({detail}), so requests "
        "and clips that need a moderator are refused. Give Reelbot View Channel, Send Messages, "
        "Attach Files and Embed Links there, or choose another channel with "
        "`/settings moderation review_channel:`."
    )


def card_embed(pending: Pending) -> discord.Embed:
    """The card: member, prompts, job id, why it waits, and the decision once made."""
    colour = {"approved": _APPROVED, "rejected": _REJECTED}.get(pending.state, _WAITING)
    embed = discord.Embed(title=_TITLES[pending.kind], colour=colour)
    embed.add_field(name="Member", value=f"<@{pending.user_id}>")
    embed.add_field(name="Channel", value=f"<#{pending.channel_id}>")
    embed.add_field(name="Job", value=f"`{pending.job_id}`")
    embed.add_field(name="Prompt", value=clip_text(pending.prompt, 1000), inline=False)
    if pending.original_prompt and pending.original_prompt != pending.prompt:
        embed.add_field(name="Their words", value=clip_text(pending.original_prompt, 1000), inline=False)
    negative = pending.request.negative if pending.request is not None else ""
    if negative:
        embed.add_field(name="Negative prompt", value=clip_text(negative, 1000), inline=False)
    if pending.reasons:
        embed.add_field(name="Why it is here", value=clip_text(pending.reasons, 1000), inline=False)
    if pending.decided:
        said = f": {pending.reason}" if pending.reason else ""
        embed.add_field(
            name="Decision", value=f"{pending.state.capitalize()} by <@{pending.decided_by}>{said}"
        )
    embed.set_footer(text=f"approval {pending.id}")
    return embed


def card_buttons(pending: Pending) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(
        Component("approve", pending.id, label="Approve", emoji="✅", style=discord.ButtonStyle.success)
    )
    view.add_item(
        Component("reject", pending.id, label="Reject", emoji="⛔", style=discord.ButtonStyle.danger)
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
    reason = Field("reason", "Reason (the member sees it)", max_length=300, paragraph=False)
    return form("reject-form", approval_id, "Reject", reason)


def appeal_view(approval_id: str) -> discord.ui.View:
    """Under a refusal: send it to the moderators."""
    view = discord.ui.View(timeout=None)
    view.add_item(Component("appeal", approval_id, label="Appeal", emoji="📨"))
    return view


def appeal_hint() -> str:
    return f" If you think this is wrong, press Appeal (up to {APPEALS_PER_DAY} a day)."


def decided_line(pending: Pending) -> str:
    """The mod-log line for a decision."""
    said = f": {pending.reason}" if pending.reason else ""
    mark = "✅" if pending.state == "approved" else "⛔"
    return (
        f"{mark} <@{pending.decided_by}> {pending.state} the {pending.kind.value} `{pending.job_id}` "
        f"of <@{pending.user_id}>{said}"
    )


def already_decided(pending: Pending | None) -> str:
    if pending is None:
        return "This approval has expired."
    return f"<@{pending.decided_by}> already {pending.state} this."
