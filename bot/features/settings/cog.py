"""Commands for the people who run a server: /settings (Manage Server) and /blocklist (moderators).

Discord hides these commands from members without the permission by default, but admins
can change who sees a command, so the permission is checked again when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from bot.enhance import Mode
from bot.errors import UserFacingError
from bot.guildconfig import Tier
from bot.limit_messages import moderation_text, settings_text
from bot.messages import MAX_CONTENT, relative
from bot.views import is_moderator
from bot.wordfilter import MAX_WORDS, check_entry

if TYPE_CHECKING:
    from bot.app import ReelBot
    from bot.limits import LimitsService


def _limits(interaction: discord.Interaction) -> LimitsService:
    bot: ReelBot = interaction.client  # type: ignore[assignment]
    return bot.service.limits


def _require_manage_server(interaction: discord.Interaction) -> None:
    permissions = interaction.permissions
    if not (permissions.manage_guild or permissions.administrator):
        raise UserFacingError("Changing Reelbot's settings needs the Manage Server permission.")


def _require_moderator(interaction: discord.Interaction) -> None:
    if not is_moderator(interaction):
        raise UserFacingError("Blocking members needs the Manage Messages permission.")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


async def _show(interaction: discord.Interaction, heading: str = "") -> None:
    service = _limits(interaction)
    guild_id = str(interaction.guild_id)
    config = await service.guild_settings(guild_id)
    blocked = len(await service.blocks(guild_id))
    body = settings_text(service.defaults, config, blocked)
    bot: ReelBot = interaction.client  # type: ignore[assignment]
    body += "\n" + await bot.service.prompts.describe(guild_id)
    body += "\n" + moderation_text(await bot.service.moderation.config(guild_id))
    await interaction.followup.send(_clip(f"{heading}\n{body}" if heading else body), ephemeral=True)


settings = app_commands.Group(
    name="settings",
    description="Reelbot's settings for this server",
    guild_only=True,
    default_permissions=discord.Permissions(manage_guild=True),
)


@settings.command(name="show")
async def settings_show(interaction: discord.Interaction) -> None:
    """Show every setting in effect here, and where it comes from."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    await _show(interaction)


#: /settings limits option -> GuildLimits field (Discord calls a guild a server)
_LIMIT_OPTIONS = {
    "rate": "rate",
    "rate_minutes": "rate_minutes",
    "active": "active",
    "member_daily": "member_daily",
    "server_daily": "guild_daily",
    "server_queue": "guild_queue",
    "strikes": "strikes",
    "cooldown_seconds": "cooldown_seconds",
    "exempt_moderators": "exempt_moderators",
}


@settings.command(name="limits")
@app_commands.describe(
    rate="Videos a member may ask for per period (0 = no limit)",
    rate_minutes="The period of that rate, in minutes",
    active="Videos a member may have waiting or rendering at once (0 = no limit)",
    member_daily="Clips a member may get per UTC day (0 = no limit)",
    server_daily="Clips this server may get per UTC day (0 = no limit)",
    server_queue="Videos this server may have waiting at once (0 = no limit)",
    strikes="Refused requests in a row before a cooldown (0 = never)",
    cooldown_seconds="The first cooldown; it doubles with each further refusal, up to an hour",
    exempt_moderators="Whether moderators skip the per-member limits and daily quotas",
    reset="Go back to the deployment's defaults (other options are then ignored)",
)
async def settings_limits(
    interaction: discord.Interaction,
    rate: app_commands.Range[int, 0, 1000] | None = None,
    rate_minutes: app_commands.Range[int, 1, 10080] | None = None,
    active: app_commands.Range[int, 0, 100] | None = None,
    member_daily: app_commands.Range[int, 0, 10000] | None = None,
    server_daily: app_commands.Range[int, 0, 100000] | None = None,
    server_queue: app_commands.Range[int, 0, 100000] | None = None,
    strikes: app_commands.Range[int, 0, 100] | None = None,
    cooldown_seconds: app_commands.Range[int, 1, 86400] | None = None,
    exempt_moderators: bool | None = None,
    reset: bool = False,
) -> None:
    """Change this server's limits; options left out keep their value."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    service, guild_id, by = _limits(interaction), str(interaction.guild_id), str(interaction.user.id)
    if reset:
        await service.reset_limits(guild_id, by)
        await _show(interaction, "Back to the deployment's default limits.")
        return
    given = dict(
        rate=rate,
        rate_minutes=rate_minutes,
        active=active,
        member_daily=member_daily,
        server_daily=server_daily,
        server_queue=server_queue,
        strikes=strikes,
        cooldown_seconds=cooldown_seconds,
        exempt_moderators=exempt_moderators,
    )
    changes = {_LIMIT_OPTIONS[k]: v for k, v in given.items() if v is not None}
    if not changes:
        await _show(interaction, "Nothing changed: give the limits to change as options.")
        return
    await service.change_limits(guild_id, changes, by)
    changed = ", ".join(f"`{k}` {v}" for k, v in changes.items())
    await _show(interaction, f"Changed {changed}. Queued videos keep their place; new requests use these.")


@settings.command(name="enhance")
@app_commands.describe(
    mode="What /video does with a prompt when the member does not choose",
    reset="Go back to the deployment's default",
)
async def settings_enhance(
    interaction: discord.Interaction,
    mode: Literal["on", "off", "review"] | None = None,
    reset: bool = False,
) -> None:
    """Choose whether /video improves prompts with AI here: on, off, or review before generating."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    bot: ReelBot = interaction.client  # type: ignore[assignment]
    guild_id, by = str(interaction.guild_id), str(interaction.user.id)
    if reset or mode is None:
        if not reset:
            await _show(interaction, "Nothing changed: choose a mode, or reset.")
            return
        await bot.service.prompts.set_default(guild_id, None, by)
        await _show(interaction, "Prompt enhancement is back to the deployment's default.")
        return
    await bot.service.prompts.set_default(guild_id, Mode(mode), by)
    await _show(interaction, f"/video now uses enhance `{mode}` here unless a member chooses otherwise.")


@settings.command(name="moderation")
@app_commands.describe(
    review_channel="Where moderators approve or reject requests and clips",
    log_channel="Where every moderator decision is logged",
    moderator_role="Members with this role may decide reviews (Manage Messages always may)",
    before_generation="Which requests a moderator approves before anything renders",
    before_posting="Which finished clips a moderator approves before they are posted",
    review_at="Image and clip filter: flag from this score (percent)",
    block_at="Image and clip filter: refuse from this score (percent)",
    adult_review_at="The same in age-restricted channels: flag from (percent)",
    adult_block_at="The same in age-restricted channels: refuse from (percent)",
)
async def settings_moderation(
    interaction: discord.Interaction,
    review_channel: discord.TextChannel | None = None,
    log_channel: discord.TextChannel | None = None,
    moderator_role: discord.Role | None = None,
    before_generation: Literal["off", "flagged", "every"] | None = None,
    before_posting: Literal["off", "flagged", "every"] | None = None,
    review_at: app_commands.Range[int, 0, 100] | None = None,
    block_at: app_commands.Range[int, 0, 100] | None = None,
    adult_review_at: app_commands.Range[int, 0, 100] | None = None,
    adult_block_at: app_commands.Range[int, 0, 100] | None = None,
) -> None:
    """Set the review channel, moderator role, approval modes and filter thresholds."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    given: dict[str, Any] = {
        "review_channel": review_channel and str(review_channel.id),
        "log_channel": log_channel and str(log_channel.id),
        "moderator_role": moderator_role and str(moderator_role.id),
        "before_generation": before_generation,
        "before_posting": before_posting,
        "review_at": review_at if review_at is None else review_at / 100,
        "block_at": block_at if block_at is None else block_at / 100,
        "adult_review_at": adult_review_at if adult_review_at is None else adult_review_at / 100,
        "adult_block_at": adult_block_at if adult_block_at is None else adult_block_at / 100,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        await _show(interaction, "Nothing changed: give the settings to change as options.")
        return
    await _change_moderation(interaction, changes)
    await _show(interaction, "Changed: " + ", ".join(f"`{k}`" for k in changes) + ".")


@settings.command(name="words")
@app_commands.describe(
    block="Words or phrases to refuse here (comma-separated; end a word with * for any ending)",
    review="Words or phrases a moderator approves first (when approval of flagged requests is on)",
    allow="Exception phrases that never count (e.g. a band's name)",
    remove="Words or phrases to take off all three lists (comma-separated)",
)
async def settings_words(
    interaction: discord.Interaction,
    block: app_commands.Range[str, 1, 1000] | None = None,
    review: app_commands.Range[str, 1, 1000] | None = None,
    allow: app_commands.Range[str, 1, 1000] | None = None,
    remove: app_commands.Range[str, 1, 1000] | None = None,
) -> None:
    """Add to this server's word list, or take entries off it (the default list stays)."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    bot: ReelBot = interaction.client  # type: ignore[assignment]
    config = await bot.service.moderation.config(str(interaction.guild_id))
    gone = {w.casefold() for w in _split(remove)}
    lists = {
        "words_block": (config.words_block, _split(block)),
        "words_review": (config.words_review, _split(review)),
        "words_allow": (config.words_allow, _split(allow)),
    }
    changes: dict[str, Any] = {}
    for name, (current, added) in lists.items():
        for entry in added:
            check_entry(entry)
        kept = [w for w in current if w.casefold() not in gone]
        updated = kept + [w for w in added if w not in kept]
        if len(updated) > MAX_WORDS:
            raise UserFacingError(f"A server's list holds at most {MAX_WORDS} entries; remove some first.")
        if tuple(updated) != current:
            changes[name] = updated
    if not changes:
        await _show(interaction, "Nothing changed.")
        return
    await _change_moderation(interaction, changes)
    await _show(interaction, "The word list is updated.")


@settings.command(name="channels")
@app_commands.describe(
    add="Allow /video in this channel (once any is set, only those)",
    remove="Stop allowing /video in this channel",
    everywhere="Allow /video in every channel again",
)
async def settings_channels(
    interaction: discord.Interaction,
    add: discord.TextChannel | None = None,
    remove: discord.TextChannel | None = None,
    everywhere: bool = False,
) -> None:
    """Choose the channels where /video works."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    bot: ReelBot = interaction.client  # type: ignore[assignment]
    config = await bot.service.moderation.config(str(interaction.guild_id))
    channels = [] if everywhere else list(config.channels)
    if add is not None and str(add.id) not in channels:
        channels.append(str(add.id))
    if remove is not None and str(remove.id) in channels:
        channels.remove(str(remove.id))
    await _change_moderation(interaction, {"channels": channels})
    await _show(interaction, "The channels are updated.")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


async def _change_moderation(interaction: discord.Interaction, changes: dict[str, Any]) -> None:
    bot: ReelBot = interaction.client  # type: ignore[assignment]
    guild_id, by = str(interaction.guild_id), str(interaction.user.id)
    await bot.service.moderation.settings.change(guild_id, changes)
    detail = ", ".join(f"{k}={v}" for k, v in changes.items())
    await _limits(interaction).audit.record(guild_id, "moderation", by, "", detail[:900])


@settings.command(name="tier")
@app_commands.describe(
    role="Members with this role get these limits (the most generous of their tiers counts)",
    rate="Videos per period for this role (0 = no limit)",
    active="Videos waiting or rendering at once (0 = no limit)",
    member_daily="Clips per UTC day (0 = no limit)",
    weight="Share of this server's turns in the queue: 2 = twice as often as others",
    exempt="Skip the per-member limits and the daily quotas",
)
async def settings_tier(
    interaction: discord.Interaction,
    role: discord.Role,
    rate: app_commands.Range[int, 0, 1000] | None = None,
    active: app_commands.Range[int, 0, 100] | None = None,
    member_daily: app_commands.Range[int, 0, 10000] | None = None,
    weight: app_commands.Range[float, 0.1, 10.0] = 1.0,
    exempt: bool = False,
) -> None:
    """Give a role its own limits or a bigger share of the queue."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    if role.is_default():
        raise UserFacingError("@everyone already has the server's limits: change them with /settings limits.")
    tier = Tier(str(role.id), role.name, rate, active, member_daily, weight, exempt)
    await _limits(interaction).set_tier(str(interaction.guild_id), tier, str(interaction.user.id))
    await _show(interaction, f"Members with {role.mention} now get this tier.")


@settings.command(name="untier")
@app_commands.describe(role="The role whose tier to remove")
async def settings_untier(interaction: discord.Interaction, role: discord.Role) -> None:
    """Remove a role's tier: its members get the server's limits again."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_manage_server(interaction)
    removed = await _limits(interaction).remove_tier(
        str(interaction.guild_id), str(role.id), str(interaction.user.id)
    )
    await _show(
        interaction, f"Removed the tier of {role.mention}." if removed else f"{role.mention} had no tier."
    )


blocklist = app_commands.Group(
    name="blocklist",
    description="Members who may not make videos here",
    guild_only=True,
    default_permissions=discord.Permissions(manage_messages=True),
)


@blocklist.command(name="add")
@app_commands.describe(member="Who to block", reason="Why (the member sees it, and it is logged)")
async def blocklist_add(
    interaction: discord.Interaction, member: discord.Member, reason: app_commands.Range[str, 1, 300]
) -> None:
    """Stop a member from making videos here; what they already queued is left alone."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_moderator(interaction)
    if member.id == interaction.user.id:
        raise UserFacingError("You cannot block yourself.")
    if member.bot:
        raise UserFacingError(f"{member.mention} is a bot; bots cannot make videos anyway.")
    await _limits(interaction).block(
        str(interaction.guild_id), str(member.id), reason, str(interaction.user.id)
    )
    await interaction.followup.send(
        f"Blocked {member.mention} from making videos here (reason: {reason}). Their queued videos "
        "were left alone: cancel them with /cancel if needed. Lift it with `/blocklist remove`.",
        ephemeral=True,
    )


@blocklist.command(name="remove")
@app_commands.describe(member="Who to unblock", reason="Why (logged)")
async def blocklist_remove(
    interaction: discord.Interaction,
    member: discord.Member,
    reason: app_commands.Range[str, 1, 300] | None = None,
) -> None:
    """Let a blocked member make videos again."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_moderator(interaction)
    removed = await _limits(interaction).unblock(
        str(interaction.guild_id), str(member.id), str(interaction.user.id), reason or ""
    )
    text = f"Unblocked {member.mention}." if removed else f"{member.mention} was not blocked."
    await interaction.followup.send(text, ephemeral=True)


@blocklist.command(name="show")
async def blocklist_show(interaction: discord.Interaction) -> None:
    """List the members blocked here, with who blocked them and why."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_moderator(interaction)
    blocks = await _limits(interaction).blocks(str(interaction.guild_id))
    if not blocks:
        await interaction.followup.send("Nobody is blocked here.", ephemeral=True)
        return
    lines = [f"**Blocked members** ({len(blocks)})"]
    for block in blocks:
        by = f" by <@{block.by}>" if block.by else ""
        when = f" {relative(block.at)}" if block.at else ""
        lines.append(f"• <@{block.user_id}>{by}{when}: {block.reason}")
    await interaction.followup.send(_clip("\n".join(lines)), ephemeral=True)


GROUPS: tuple[app_commands.Group, ...] = (settings, blocklist)
