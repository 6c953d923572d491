"""What /settings shows: every setting in effect and where it comes from. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping

from bot.enhance import Enhancer
from bot.guildconfig import GuildConfig, GuildLimits
from bot.i18n import LANGUAGES, N_, _, choose
from bot.modconfig import ModerationConfig

_LABELS: Mapping[str, str] = {
    "rate": N_("Videos per member per period"),
    "rate_minutes": N_("Period, in minutes"),
    "active": N_("Videos waiting or rendering per member"),
    "member_daily": N_("Clips per member per day"),
    "guild_daily": N_("Clips for the server per day"),
    "guild_queue": N_("Videos waiting for the server"),
    "strikes": N_("Refusals in a row before a cooldown"),
    "cooldown_seconds": N_("First cooldown, in seconds (doubles, up to an hour)"),
    "exempt_moderators": N_("Moderators exempt"),
}
#: the modes of /settings moderation and /settings enhance, as their choices are named
_MODES: Mapping[str, str] = {
    "off": N_("off"),
    "on": N_("on"),
    "review": N_("review"),
    "flagged": N_("flagged"),
    "every": N_("every"),
}


def _mode(value: str) -> str:
    return _(_MODES[value]) if value in _MODES else value


def settings_text(defaults: GuildLimits, config: GuildConfig, blocked: int) -> str:
    """``/settings show``: every effective value, and where it comes from."""
    effective = config.limits(defaults)
    lines = [_("**Limits** (0 = no limit; days are UTC days)")]
    for name, label in _LABELS.items():
        value = getattr(effective, name)
        shown = (_("yes") if value else _("no")) if isinstance(value, bool) else str(value)
        source = _("set here") if name in config.overrides else _("default")
        lines.append(f"• {_(label)}: **{shown}** ({source}) `{name}`")
    if config.tiers:
        lines.append(_("**Role tiers** (a member gets the most generous of their tiers)"))
        for tier in config.tiers.values():
            parts = [
                f"{name} {getattr(tier, name)}"
                for name in ("rate", "active", "member_daily")
                if getattr(tier, name) is not None
            ]
            if tier.weight != 1:
                parts.append(_("queue weight {weight:g}", weight=tier.weight))
            if tier.exempt:
                parts.append(_("exempt"))
            changes = ", ".join(parts) or _("no changes")
            lines.append(f"• <@&{tier.role_id}>: {changes}")
    else:
        lines.append(_("**Role tiers**: none. Add one with `/settings tier`."))
    lines.append(_("**Blocked members**: {count}. See them with `/blocklist show`.", count=blocked))
    return "\n".join(lines)


def moderation_text(config: ModerationConfig) -> str:
    """``/settings show``: the moderation settings in effect."""

    def channel(value: str | None) -> str:
        return f"<#{value}>" if value else _("none")

    def pct(value: float) -> str:
        return f"{value * 100:.0f} %"

    role = f"<@&{config.moderator_role}>" if config.moderator_role else _("none (Manage Messages only)")
    where = ", ".join(f"<#{c}>" for c in config.channels) or _("every channel")
    lines = [
        _("**Moderation**"),
        _(
            "• Review channel: {review}; mod-log channel: {log}",
            review=channel(config.review_channel),
            log=channel(config.log_channel),
        ),
        _("• Moderator role: {role}", role=role),
        _(
            "• Approval before generation: **{before_generation}**; before posting: **{before_posting}**",
            before_generation=_mode(config.before_generation.value),
            before_posting=_mode(config.before_posting.value),
        ),
        _(
            "• Image and clip filter: flag from {review}, refuse from {block} "
            "(age-restricted channels: {adult_review} / {adult_block})",
            review=pct(config.review_at),
            block=pct(config.block_at),
            adult_review=pct(config.adult_review_at),
            adult_block=pct(config.adult_block_at),
        ),
        _(
            "• Word list additions: {refused} refused, {reviewed} reviewed, {exceptions} exceptions "
            "(plus the default list). Change them with `/settings words`.",
            refused=len(config.words_block),
            reviewed=len(config.words_review),
            exceptions=len(config.words_allow),
        ),
        _("• /video works in: {channels}", channels=where),
    ]
    return "\n".join(lines)


def enhance_text(enhancer: Enhancer, config: GuildConfig) -> str:
    """The /settings show line about enhancement: the default in effect and where it comes from."""
    if not enhancer.available:
        return _(
            "**Prompt enhancement**: unavailable on this bot ({why}); prompts are used as written.",
            why=enhancer.unavailable or _("not configured"),
        )
    mode = config.enhance or enhancer.settings.default_mode.value
    source = _("set here") if config.enhance else _("default")
    return _(
        "**Prompt enhancement**: **{mode}** ({source}) with `{model}`; members can choose per video "
        "with `/video enhance:`. Change it with `/settings enhance`.",
        mode=_mode(mode),
        source=source,
        model=enhancer.settings.model_id,
    )


def language_text(config: GuildConfig, discord_locale: object) -> str:
    """The /settings show line about the server's language for Reelbot, and where it comes from.

    Args:
        config: the guild's settings.
        discord_locale: the server's language in Discord's settings (``interaction.guild_locale``).
    """
    if config.language is not None:
        return _(
            "**Language**: **{language}** (set here); members whose own Discord language Reelbot "
            "speaks get theirs. Change it with `/settings language`.",
            language=LANGUAGES[config.language],
        )
    return _(
        "**Language**: Discord's server setting, now **{language}**; members whose own Discord "
        "language Reelbot speaks get theirs. Change it with `/settings language`.",
        language=LANGUAGES[choose(discord_locale)],
    )


def problems_text(problems: list[str]) -> str:
    """Problems the bot told the admins about in the last day ("" when none)."""
    if not problems:
        return ""
    heading = _("**⚠️ Problems** (told to the admins in the last day)")
    return "\n".join([heading, *(f"• {p}" for p in problems)])
