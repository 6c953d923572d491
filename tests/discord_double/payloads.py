"""JSON payloads in Discord's shapes, built from the double's world.

Field sets follow Discord's documented objects closely enough for discord.py's parsers (Guild,
TextChannel, Member, Message, Attachment); fields the double has no model for are sent as their
empty or default values.
"""

from __future__ import annotations

import datetime
from typing import Any

from .world import Channel, Guild, Member, Message, Role, World


def iso(ts: float) -> str:
    """An ISO 8601 timestamp, as Discord writes them."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def user_payload(world: World, user_id: int) -> dict[str, Any]:
    """A user object."""
    bot = user_id == world.bot_user_id
    payload: dict[str, Any] = {
        "id": str(user_id),
        "username": world.users[user_id],
        "discriminator": "0",
        "global_name": None if bot else world.users[user_id],
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if bot:
        payload.update(bot=True, verified=True, mfa_enabled=False, system=False)
    return payload


def role_payload(role: Role) -> dict[str, Any]:
    """A role object."""
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }


def member_payload(world: World, member: Member, *, with_user: bool = True) -> dict[str, Any]:
    """A guild member object (``permissions`` included, as interactions carry it)."""
    payload: dict[str, Any] = {
        "roles": [str(r) for r in member.role_ids],
        "nick": None,
        "avatar": None,
        "banner": None,
        "joined_at": iso(member.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "permissions": str(world.permissions(member.guild_id, member.user_id)),
    }
    if with_user:
        payload["user"] = user_payload(world, member.user_id)
    return payload


def channel_payload(
    channel: Channel, *, permissions: int | None = None, bot_user_id: int | None = None
) -> dict[str, Any]:
    """A guild text channel object (``permissions`` is set inside interactions); with
    ``bot_user_id``, a member overwrite carries what the channel denies the bot."""
    overwrites = []
    if channel.bot_denied and bot_user_id is not None:
        overwrites.append({"id": str(bot_user_id), "type": 1, "allow": "0", "deny": str(channel.bot_denied)})
    payload: dict[str, Any] = {
        "id": str(channel.id),
        "type": 0,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": overwrites,
        "nsfw": channel.nsfw,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def guild_payload(world: World, guild: Guild, *, gateway: bool) -> dict[str, Any]:
    """A guild object; with ``gateway`` the GUILD_CREATE extras (channels, members, counts) too."""
    payload: dict[str, Any] = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": (0, 2, 7, 14)[min(guild.premium_tier, 3)],
        "premium_progress_bar_enabled": False,
        "preferred_locale": guild.locale,
        "features": [],
        "roles": [role_payload(r) for r in guild.roles.values()],
        "emojis": [],
        "stickers": [],
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "max_members": 500000,
        "application_id": None,
        "incidents_data": None,
    }
    if gateway:
        payload.update(
            joined_at=iso(guild.members[world.bot_user_id].joined_at),
            large=False,
            unavailable=False,
            member_count=len(guild.members),
            channels=[channel_payload(c, bot_user_id=world.bot_user_id) for c in guild.channels.values()],
            members=[_gateway_member(world, m) for m in guild.members.values()],
            threads=[],
            voice_states=[],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
    return payload


def _gateway_member(world: World, member: Member) -> dict[str, Any]:
    """Members in GUILD_CREATE carry no computed ``permissions``."""
    payload = member_payload(world, member)
    del payload["permissions"]
    return payload


def public_attachment(attachment: dict[str, Any]) -> dict[str, Any]:
    """An attachment object as Discord returns it (the stored bytes left out)."""
    return {k: v for k, v in attachment.items() if k != "data"}


def message_payload(world: World, message: Message) -> dict[str, Any]:
    """A message object."""
    payload: dict[str, Any] = {
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "author": user_payload(world, message.author_id),
        "content": message.content,
        "timestamp": iso(message.created_at),
        "edited_timestamp": None if message.edited_at is None else iso(message.edited_at),
        "tts": message.tts,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [public_attachment(a) for a in message.attachments],
        "embeds": message.embeds,
        "components": message.components,
        "pinned": False,
        "type": message.type,
        "flags": message.flags,
    }
    if message.guild_id is not None:
        payload["guild_id"] = str(message.guild_id)
    if message.nonce is not None:
        payload["nonce"] = message.nonce
    if message.message_reference is not None:
        payload["message_reference"] = message.message_reference
    if message.webhook_id is not None:
        payload["webhook_id"] = str(message.webhook_id)
        payload["application_id"] = str(world.application_id)
    if message.interaction_id is not None:
        interaction = world.interactions[message.interaction_id]
        payload["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user_payload(world, interaction.user_id),
            "authorizing_integration_owners": {"0": str(interaction.guild_id)},
        }
    return payload


def stored_command(
    world: World, body: dict[str, Any], guild_id: int | None, old: list[dict[str, Any]]
) -> dict[str, Any]:
    """An application command as Discord stores it: the bot's fields plus ids and defaults.

    A command keeps its id across overwrites when name and type match, as Discord does.
    """
    kind = body.get("type", 1)
    same = next((c for c in old if c["name"] == body["name"] and c["type"] == kind), None)
    command = dict(body)
    command.update(
        id=same["id"] if same else str(world.ids.next()),
        application_id=str(world.application_id),
        version=str(world.ids.next()),
        type=kind,
        description=body.get("description", ""),
        default_member_permissions=body.get("default_member_permissions"),
        nsfw=body.get("nsfw", False),
    )
    if command["default_member_permissions"] is not None:
        command["default_member_permissions"] = str(command["default_member_permissions"])
    if guild_id is not None:
        command["guild_id"] = str(guild_id)
    return command
