"""What /settings shows: every setting in effect and where it comes from. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping

from bot.enhance import Enhancer
from bot.guildconfig import GuildConfig, GuildLimits
from bot.modconfig import ModerationConfig

_LABELS: Mapping[str, str] = {
    "rate": "Videos per member per period",
    "rate_minutes": "Period, in minutes",
    "active": "Videos waiting or rendering per member",
    "member_daily": "Clips per member per day",
    "guild_daily": "Clips for the server per day",
    "guild_queue": "Videos waiting for the server",
    "strikes": "Refusals in a row before a cooldown",
    "cooldown_seconds": "First cooldown, in seconds (doubles, up to an hour)",
    "exempt_moderators": "Moderators exempt",
}


def settings_text(defaults: GuildLimits, config: GuildConfig, blocked: int) -> str:
    """``/settings show``: every effective value, and where it comes from."""
    effective = config.limits(defaults)
    lines = ["**Limits** (0 = no limit; days are UTC days)"]
    for name, label in _LABELS.items():
        value = getattr(effective, name)
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        source = "set here" if name in config.overrides else "default"
        lines.append(f"• {label}: **{shown}** ({source}) `{name}`")
    if config.tiers:
        lines.append("**Role tiers** (a member gets the most generous of their tiers)")
        for tier in config.tiers.values():
            parts = [
                f"{name} {getattr(tier, name)}"
                for name in ("rate", "active", "member_daily")
                if getattr(tier, name) is not None
            ]
            if tier.weight != 1:
                parts.append(f"queue weight {tier.weight:g}")
            if tier.exempt:
                parts.append("exempt")
            lines.append(f"• <@&{tier.role_id}>: {', '.join(parts) or 'no changes'}")
    else:
        lines.append("**Role tiers**: none. Add one with `/settings tier`.")
    lines.append(f"**Blocked members**: {blocked}. See them with `/blocklist show`.")
    return "\n".join(lines)


def moderation_text(config: ModerationConfig) -> str:
    """``/settings show``: the moderation settings in effect."""

    def channel(value: str | None) -> str:
        return f"<#{value}>" if value else "none"

    def pct(value: float) -> str:
        return f"{value * 100:.0f} %"

    role = f"<@&{config.moderator_role}>" if config.moderator_role else "none (Manage Messages only)"
    where = ", ".join(f"<#{c}>" for c in config.channels) or "every channel"
    lines = [
        "**Moderation**",
        f"• Review channel: {channel(config.review_channel)}; mod-log channel: {channel(config.log_channel)}",
        f"• Moderator role: {role}",
        f"• Approval before generation: **{config.before_generation.value}**; "
        f"before posting: **{config.before_posting.value}**",
        f"• Image and clip filter: flag from {pct(config.review_at)}, refuse from {pct(config.block_at)} "
        f"(age-restricted channels: {pct(config.adult_review_at)} / {pct(config.adult_block_at)})",
        f"• Word list additions: {len(config.words_block)} refused, {len(config.words_review)} reviewed, "
        f"{len(config.words_allow)} exceptions (plus the default list). Change them with `/settings words`.",
        f"• /video works in: {where}",
    ]
    return "\n".join(lines)


def enhance_text(enhancer: Enhancer, config: GuildConfig) -> str:
    """The /settings show line about enhancement: the default in effect and where it comes from."""
    if not enhancer.available:
        return (
            "**Prompt enhancement**: unavailable on this bot "
            f"({enhancer.unavailable or 'not configured'}); prompts are used as written."
        )
    mode = config.enhance or enhancer.settings.default_mode.value
    source = "set here" if config.enhance else "default"
    return (
        f"**Prompt enhancement**: **{mode}** ({source}) with `{enhancer.settings.model_id}`; "
        "members can choose per video with `/video enhance:`. Change it with `/settings enhance`."
    )


def problems_text(problems: list[str]) -> str:
    """Problems the bot told the admins about in the last day ("" when none)."""
    if not problems:
        return ""
    return "\n".join(["**⚠️ Problems** (told to the admins in the last day)", *(f"• {p}" for p in problems)])
