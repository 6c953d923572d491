"""Commands for the people who run a server: /settings (Manage Server) and /blocklist (moderators).

Discord hides these commands from members without the permission by default, but admins can
change who sees a command, so the access policy is asked again when the command runs. Every
change is written to the guild's audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import AccessPolicy, member_of
from bot.audit import AuditLog
from bot.channels import REQUIRED_PERMISSIONS, Channels
from bot.enhance import Enhancer
from bot.errors import UserFacingError
from bot.features.approvals.holds import REVIEW_CHANNEL_PROBLEM
from bot.features.settings.texts import (
    enhance_text,
    language_text,
    moderation_text,
    problems_text,
    settings_text,
)
from bot.fmt import MAX_CONTENT, clip_text, relative
from bot.guildconfig import GuildConfigStore, Tier
from bot.i18n import LANGUAGES, _
from bot.limits import LimitsService
from bot.modconfig import ModerationStore
from bot.notices import AdminNotices
from bot.wordfilter import MAX_WORDS, check_entry

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
#: what the bot needs in each channel an admin gives it
_NEEDS = {
    "review_channel": tuple(REQUIRED_PERMISSIONS),
    "log_channel": ("view_channel", "send_messages"),
}
#: /settings language's choice that forgets the server's language: Discord's server setting applies
_FOLLOW_DISCORD = "discord"
_LANGUAGE_CHOICES = [
    *(app_commands.Choice(name=name, value=code) for code, name in LANGUAGES.items()),
    app_commands.Choice(name="Discord's server setting", value=_FOLLOW_DISCORD),
]


class SettingsCog(commands.Cog, name="settings"):
    """A server's settings and block list."""

    settings = app_commands.Group(
        name="settings",
        description="Reelbot's settings for this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    blocklist = app_commands.Group(
        name="blocklist",
        description="Members who may not make videos here",
        guild_only=True,
        default_permissions=discord.Permissions(manage_messages=True),
    )

    def __init__(
        self,
        *,
        access: AccessPolicy,
        limits: LimitsService,
        enhancer: Enhancer,
        channels: Channels,
        notices: AdminNotices,
        audit: AuditLog,
        on_language_changed: Callable[[str], None] | None = None,
    ) -> None:
        """Args (besides the collaborators): ``on_language_changed`` is called with the guild id
        after /settings language changes it (to forget a cached language)."""
        self.access, self.limits, self.enhancer, self.channels = access, limits, enhancer, channels
        self.notices, self.audit = notices, audit
        self.on_language_changed = on_language_changed
        self.configs: GuildConfigStore = limits.config
        self.moderation = ModerationStore(limits.queue.redis, limits.queue.keys)

    # ---------------------------------------------------------------- /settings

    @settings.command(name="show")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        """Show every setting in effect here, and where it comes from."""
        await self._admin(interaction)
        await self._show(interaction)

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
        self,
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
        guild_id, by = await self._admin(interaction)
        if reset:
            await self.limits.reset_limits(guild_id, by)
            await self._show(interaction, _("Back to the deployment's default limits."))
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
            await self._show(interaction, _("Nothing changed: give the limits to change as options."))
            return
        await self.limits.change_limits(guild_id, changes, by)
        changed = ", ".join(f"`{k}` {v}" for k, v in changes.items())
        await self._show(
            interaction,
            _("Changed {changes}. Queued videos keep their place; new requests use these.", changes=changed),
        )

    @settings.command(name="enhance")
    @app_commands.describe(
        mode="What /video does with a prompt when the member does not choose",
        reset="Go back to the deployment's default",
    )
    async def settings_enhance(
        self,
        interaction: discord.Interaction,
        mode: Literal["on", "off", "review"] | None = None,
        reset: bool = False,
    ) -> None:
        """Choose whether /video improves prompts with AI here: on, off, or review before generating."""
        guild_id, by = await self._admin(interaction)
        if not reset and mode is None:
            await self._show(interaction, _("Nothing changed: choose a mode, or reset."))
            return
        chosen = None if reset else mode
        await self.configs.set_enhance(guild_id, chosen)
        await self.audit.record(
            guild_id, "enhance", by, "", f"default {chosen}" if chosen else "default reset"
        )
        if chosen is None:
            await self._show(interaction, _("Prompt enhancement is back to the deployment's default."))
        else:
            await self._show(
                interaction,
                _("/video now uses enhance `{mode}` here unless a member chooses otherwise.", mode=chosen),
            )

    @settings.command(name="language")
    @app_commands.describe(
        language="English, Tiếng Việt, or the server's language in Discord's settings (the default)"
    )
    @app_commands.choices(language=_LANGUAGE_CHOICES)
    async def settings_language(self, interaction: discord.Interaction, language: str | None = None) -> None:
        """Choose Reelbot's language here (members whose Discord language it speaks keep theirs)."""
        guild_id, by = await self._admin(interaction)
        if language is None:
            await self._show(interaction, _("Nothing changed: choose a language."))
            return
        chosen = None if language == _FOLLOW_DISCORD else language
        await self.configs.set_language(guild_id, chosen)
        await self.audit.record(guild_id, "language", by, "", chosen or "reset to Discord's server setting")
        if self.on_language_changed is not None:
            self.on_language_changed(guild_id)
        if chosen is None:
            heading = _("Reelbot now follows this server's language in Discord's settings.")
        else:
            heading = _(
                "Reelbot now speaks {language} here: in what it posts for everyone, and to members "
                "whose own Discord language it does not speak.",
                language=LANGUAGES[chosen],
            )
        await self._show(interaction, heading)

    @settings.command(name="moderation")
    @app_commands.describe(
        review_channel="Where moderators approve or reject requests and clips",
        log_channel="Where every moderator decision is logged",
        moderator_role="Members with this role may decide approvals (Manage Messages always may)",
        before_generation="Which requests a moderator approves before anything renders",
        before_posting="Which finished clips a moderator approves before they are posted",
        review_at="Image and clip filter: flag from this score (percent)",
        block_at="Image and clip filter: refuse from this score (percent)",
        adult_review_at="The same in age-restricted channels: flag from (percent)",
        adult_block_at="The same in age-restricted channels: refuse from (percent)",
    )
    async def settings_moderation(
        self,
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
        guild_id, by = await self._admin(interaction)
        for name, channel in (("review_channel", review_channel), ("log_channel", log_channel)):
            if channel is not None:
                self._check_can_post(name, channel)
        given: dict[str, Any] = {
            "review_channel": review_channel and str(review_channel.id),
            "log_channel": log_channel and str(log_channel.id),
            "moderator_role": moderator_role and str(moderator_role.id),
            "before_generation": before_generation,
            "before_posting": before_posting,
            "review_at": _share(review_at),
            "block_at": _share(block_at),
            "adult_review_at": _share(adult_review_at),
            "adult_block_at": _share(adult_block_at),
        }
        changes = {k: v for k, v in given.items() if v is not None}
        if not changes:
            await self._show(interaction, _("Nothing changed: give the settings to change as options."))
            return
        await self._change_moderation(guild_id, by, changes)
        if review_channel is not None:
            await self.notices.clear(guild_id, REVIEW_CHANNEL_PROBLEM)
        await self._show(
            interaction, _("Changed: {settings}.", settings=", ".join(f"`{k}`" for k in changes))
        )

    @settings.command(name="words")
    @app_commands.describe(
        block="Words or phrases to refuse here (comma-separated; end a word with * for any ending)",
        review="Words or phrases a moderator approves first (when approval of flagged requests is on)",
        allow="Exception phrases that never count (e.g. a band's name)",
        remove="Words or phrases to take off all three lists (comma-separated)",
    )
    async def settings_words(
        self,
        interaction: discord.Interaction,
        block: app_commands.Range[str, 1, 1000] | None = None,
        review: app_commands.Range[str, 1, 1000] | None = None,
        allow: app_commands.Range[str, 1, 1000] | None = None,
        remove: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Add to this server's word list, or take entries off it (the default list stays)."""
        guild_id, by = await self._admin(interaction)
        config = await self.moderation.load(guild_id)
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
                raise UserFacingError(
                    _("A server's list holds at most {count} entries; remove some first.", count=MAX_WORDS)
                )
            if tuple(updated) != current:
                changes[name] = updated
        if not changes:
            await self._show(interaction, _("Nothing changed."))
            return
        await self._change_moderation(guild_id, by, changes)
        await self._show(interaction, _("The word list is updated."))

    @settings.command(name="channels")
    @app_commands.describe(
        add="Allow /video in this channel (once any is set, only those)",
        remove="Stop allowing /video in this channel",
        everywhere="Allow /video in every channel again",
    )
    async def settings_channels(
        self,
        interaction: discord.Interaction,
        add: discord.TextChannel | None = None,
        remove: discord.TextChannel | None = None,
        everywhere: bool = False,
    ) -> None:
        """Choose the channels where /video works."""
        guild_id, by = await self._admin(interaction)
        config = await self.moderation.load(guild_id)
        channels = [] if everywhere else list(config.channels)
        if add is not None and str(add.id) not in channels:
            channels.append(str(add.id))
        if remove is not None and str(remove.id) in channels:
            channels.remove(str(remove.id))
        await self._change_moderation(guild_id, by, {"channels": channels})
        await self._show(interaction, _("The channels are updated."))

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
        self,
        interaction: discord.Interaction,
        role: discord.Role,
        rate: app_commands.Range[int, 0, 1000] | None = None,
        active: app_commands.Range[int, 0, 100] | None = None,
        member_daily: app_commands.Range[int, 0, 10000] | None = None,
        weight: app_commands.Range[float, 0.1, 10.0] = 1.0,
        exempt: bool = False,
    ) -> None:
        """Give a role its own limits or a bigger share of the queue."""
        guild_id, by = await self._admin(interaction)
        if role.is_default():
            raise UserFacingError(
                _("@everyone already has the server's limits: change them with /settings limits.")
            )
        tier = Tier(str(role.id), role.name, rate, active, member_daily, weight, exempt)
        await self.limits.set_tier(guild_id, tier, by)
        await self._show(interaction, _("Members with {role} now get this tier.", role=role.mention))

    @settings.command(name="untier")
    @app_commands.describe(role="The role whose tier to remove")
    async def settings_untier(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Remove a role's tier: its members get the server's limits again."""
        guild_id, by = await self._admin(interaction)
        removed = await self.limits.remove_tier(guild_id, str(role.id), by)
        if removed:
            await self._show(interaction, _("Removed the tier of {role}.", role=role.mention))
        else:
            await self._show(interaction, _("{role} had no tier.", role=role.mention))

    # ---------------------------------------------------------------- /blocklist

    @blocklist.command(name="add")
    @app_commands.describe(member="Who to block", reason="Why (the member sees it, and it is logged)")
    async def blocklist_add(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 300],
    ) -> None:
        """Stop a member from making videos here; what they already queued is left alone."""
        guild_id, by = await self._moderator(interaction)
        if member.id == interaction.user.id:
            raise UserFacingError(_("You cannot block yourself."))
        if member.bot:
            raise UserFacingError(
                _("{member} is a bot; bots cannot make videos anyway.", member=member.mention)
            )
        await self.limits.block(guild_id, str(member.id), reason, by)
        await interaction.followup.send(
            _(
                "Blocked {member} from making videos here (reason: {reason}). Their queued videos "
                "were left alone: cancel them with /cancel if needed. Lift it with `/blocklist remove`.",
                member=member.mention,
                reason=reason,
            ),
            ephemeral=True,
        )

    @blocklist.command(name="remove")
    @app_commands.describe(member="Who to unblock", reason="Why (logged)")
    async def blocklist_remove(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        """Let a blocked member make videos again."""
        guild_id, by = await self._moderator(interaction)
        removed = await self.limits.unblock(guild_id, str(member.id), by, reason or "")
        if removed:
            text = _("Unblocked {member}.", member=member.mention)
        else:
            text = _("{member} was not blocked.", member=member.mention)
        await interaction.followup.send(text, ephemeral=True)

    @blocklist.command(name="show")
    async def blocklist_show(self, interaction: discord.Interaction) -> None:
        """List the members blocked here, with who blocked them and why."""
        guild_id, _by = await self._moderator(interaction)
        blocks = await self.limits.blocks(guild_id)
        if not blocks:
            await interaction.followup.send(_("Nobody is blocked here."), ephemeral=True)
            return
        lines = [_("**Blocked members** ({count})", count=len(blocks))]
        lines += [_block_line(block.user_id, block.by, block.at, block.reason) for block in blocks]
        await interaction.followup.send(clip_text("\n".join(lines)), ephemeral=True)

    # ------------------------------------------------------------------- helpers

    async def _admin(self, interaction: discord.Interaction) -> tuple[str, str]:
        """Defer, then the guild and admin ids, or NotAllowed without Manage Server."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = member_of(interaction)
        self.access.server_admin(member)
        return member.guild_id, member.user_id

    async def _moderator(self, interaction: discord.Interaction) -> tuple[str, str]:
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = member_of(interaction)
        await self.access.moderator(member, "Blocking members")  # access says it as one sentence
        return member.guild_id, member.user_id

    def _check_can_post(self, name: str, channel: discord.TextChannel) -> None:
        """Refuse a channel the bot cannot post in, before anything is changed."""
        cached = self.channels.client.get_channel(channel.id) or channel
        permissions = self.channels.bot_permissions(cached)
        if permissions is None:
            return  # Discord did not say; a failed post will be reported to the admins
        missing = [REQUIRED_PERMISSIONS[flag] for flag in _NEEDS[name] if not getattr(permissions, flag)]
        if missing:
            raise UserFacingError(
                _(
                    "I cannot post in {channel}: I am missing {permissions} there. Give Reelbot these "
                    "permissions in that channel (or choose another one) and try again; nothing was changed.",
                    channel=channel.mention,
                    permissions=", ".join(missing),
                ),
                reason="settings",
            )

    async def _change_moderation(self, guild_id: str, by: str, changes: dict[str, Any]) -> None:
        await self.moderation.change(guild_id, changes)
        detail = ", ".join(f"{k}={v}" for k, v in changes.items())
        await self.audit.record(guild_id, "moderation", by, "", detail[:900])

    async def _show(self, interaction: discord.Interaction, heading: str = "") -> None:
        guild_id = str(interaction.guild_id)
        config = await self.limits.guild_settings(guild_id)
        blocked = len(await self.limits.blocks(guild_id))
        parts = [
            heading,
            problems_text(await self.notices.current(guild_id)),
            settings_text(self.limits.defaults, config, blocked),
            enhance_text(self.enhancer, config),
            language_text(config, interaction.guild_locale),
            moderation_text(await self.moderation.load(guild_id)),
        ]
        body = "\n".join(p for p in parts if p)
        await interaction.followup.send(clip_text(body, MAX_CONTENT), ephemeral=True)


def _block_line(user_id: str, by: str, at: float, reason: str) -> str:
    """One blocked member in /blocklist show: who blocked them, when and why, as far as known."""
    if by and at:
        return _(
            "• <@{member}> by <@{moderator}> {when}: {reason}",
            member=user_id,
            moderator=by,
            when=relative(at),
            reason=reason,
        )
    if by:
        return _("• <@{member}> by <@{moderator}>: {reason}", member=user_id, moderator=by, reason=reason)
    if at:
        return _("• <@{member}> {when}: {reason}", member=user_id, when=relative(at), reason=reason)
    return f"• <@{user_id}>: {reason}"


def _share(percent: int | None) -> float | None:
    return None if percent is None else percent / 100


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]
