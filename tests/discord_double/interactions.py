"""INTERACTION_CREATE payloads for slash commands, button clicks and modal submits.

Real: the fields Discord sends (id, application_id, type, data, guild_id, channel, member with
permissions, token, version, app_permissions, locale, entitlements, authorizing_integration_owners,
context, attachment_size_limit), typed options per the registered command, resolved objects.
Simplified: options are typed from the registered command when there is one, else inferred.
"""

from __future__ import annotations

import secrets
from typing import Any

from .payloads import (
    channel_payload,
    member_payload,
    message_payload,
    public_attachment,
    role_payload,
    user_payload,
)
from .world import Interaction, Message, World

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP = 1, 2
OPT_STRING, OPT_INTEGER, OPT_BOOLEAN, OPT_USER, OPT_CHANNEL, OPT_ROLE = 3, 4, 5, 6, 7, 8
OPT_NUMBER, OPT_ATTACHMENT = 10, 11


def new_interaction(
    world: World,
    kind: int,
    guild_id: int,
    channel_id: int,
    user_id: int,
    data: dict[str, Any],
    *,
    app_permissions: int,
    upload_limit: int,
    message: Message | None = None,
) -> Interaction:
    """Build and store an interaction; ``dispatched_at`` is set when the gateway sends it."""
    member = world.member(guild_id, user_id)
    channel = world.channel(channel_id)
    if member is None or channel is None or channel.guild_id != guild_id:
        raise ValueError(f"user {user_id} / channel {channel_id} are not in guild {guild_id}; add them first")
    interaction_id = world.ids.next()
    # Real tokens are long opaque strings; ours are random so that replayed or guessed ones stand out.
    token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(120)
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(world.application_id),
        "type": kind,
        "data": data,
        "guild_id": str(guild_id),
        "guild": {"id": str(guild_id), "locale": world.guilds[guild_id].locale, "features": []},
        "channel": channel_payload(channel, permissions=world.permissions(guild_id, user_id)),
        "channel_id": str(channel_id),
        "member": member_payload(world, member),
        "token": token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": member.locale,
        "guild_locale": world.guilds[guild_id].locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
        "attachment_size_limit": upload_limit,
    }
    if message is not None:
        payload["message"] = message_payload(world, message)
    interaction = Interaction(
        id=interaction_id,
        token=token,
        type=kind,
        user_id=user_id,
        channel_id=channel_id,
        guild_id=guild_id,
        dispatched_at=world.clock.now(),
        payload=payload,
    )
    world.interactions[interaction_id] = interaction
    return interaction


def command_data(
    world: World,
    guild_id: int,
    name: str,
    options: dict[str, Any] | None,
    attachments: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """``data`` for a chat-input command; ``name`` may be ``"group sub"`` for subcommands.

    Raises:
        ValueError: an option the registered command does not have.
    """
    top, *subs = name.split()
    command = world.find_command(guild_id, top)
    resolved: dict[str, dict[str, Any]] = {}
    # attachments may be keyed by attachment id or by option name: index them by id either way
    known = {str(k): public_attachment(v) for k, v in world.hosted.items()}
    known.update({str(a["id"]): a for a in (attachments or {}).values()})
    schema: list[dict[str, Any]] | None = None if command is None else command.get("options") or []
    for sub in subs:
        if schema is None:
            break
        found = next((o for o in schema if o["name"] == sub), None)
        if found is None:
            raise ValueError(f"the registered command {top!r} has no subcommand {sub!r}")
        schema = found.get("options") or []
    typed = [
        _option(world, guild_id, key, value, schema, known, resolved)
        for key, value in (options or {}).items()
    ]
    for sub in reversed(subs):
        kind = OPT_SUB_COMMAND if sub == subs[-1] else OPT_SUB_COMMAND_GROUP
        typed = [{"type": kind, "name": sub, "options": typed}]
    data: dict[str, Any] = {
        "id": command["id"] if command else str(world.ids.next()),
        "name": top,
        "type": 1,
        "options": typed,
    }
    if command is not None and command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    return data


def _option(
    world: World,
    guild_id: int,
    name: str,
    value: Any,
    schema: list[dict[str, Any]] | None,
    attachments: dict[str, dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """One typed option, adding what it refers to under ``resolved``."""
    if isinstance(value, dict) and "id" in value:  # an attachment object from host_attachment()
        attachments.setdefault(str(value["id"]), value)
        value = str(value["id"])
    if schema is not None:
        spec = next((o for o in schema if o["name"] == name), None)
        if spec is None:
            raise ValueError(
                f"the registered command has no option {name!r}; it has {[o['name'] for o in schema]}"
            )
        kind = int(spec["type"])
    else:
        kind = _infer(value, attachments)
    if kind == OPT_INTEGER:
        value = int(value)
    elif kind == OPT_NUMBER:
        value = float(value)
    elif kind == OPT_BOOLEAN:
        value = bool(value)
    elif kind == OPT_STRING:
        value = str(value)
    else:
        value = str(value)
        _resolve(world, guild_id, kind, value, attachments, resolved)
    return {"type": kind, "name": name, "value": value}


def _infer(value: Any, attachments: dict[str, dict[str, Any]]) -> int:
    """Option type from a Python value when no command is registered."""
    if isinstance(value, bool):
        return OPT_BOOLEAN
    if isinstance(value, int):
        return OPT_INTEGER
    if isinstance(value, float):
        return OPT_NUMBER
    if str(value) in attachments:
        return OPT_ATTACHMENT
    return OPT_STRING


def _resolve(
    world: World,
    guild_id: int,
    kind: int,
    value: str,
    attachments: dict[str, dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
) -> None:
    """Fill ``resolved`` for user, channel, role and attachment options."""
    guild = world.guilds[guild_id]
    if kind == OPT_ATTACHMENT:
        if value not in attachments:
            raise ValueError(f"attachment {value} is unknown; create it with host_attachment()")
        resolved.setdefault("attachments", {})[value] = attachments[value]
    elif kind == OPT_USER:
        member = guild.members[int(value)]
        resolved.setdefault("users", {})[value] = user_payload(world, member.user_id)
        resolved.setdefault("members", {})[value] = member_payload(world, member, with_user=False)
    elif kind == OPT_CHANNEL:
        channel = guild.channels[int(value)]
        resolved.setdefault("channels", {})[value] = {
            "id": value,
            "name": channel.name,
            "type": 0,
            "permissions": str(world.permissions(guild_id, world.bot_user_id)),
        }
    elif kind == OPT_ROLE:
        resolved.setdefault("roles", {})[value] = role_payload(guild.roles[int(value)])


def component_data(message: Message, custom_id: str) -> dict[str, Any]:
    """``data`` for a click on the component ``custom_id`` of ``message``.

    Raises:
        ValueError: the message has no such component (Discord cannot send that click).
    """
    for component in _walk(message.components):
        if component.get("custom_id") == custom_id:
            data: dict[str, Any] = {"custom_id": custom_id, "component_type": component.get("type", 2)}
            if component.get("type") in (3, 5, 6, 7, 8):
                data["values"] = []
            return data
    raise ValueError(f"message {message.id} has no component with custom_id {custom_id!r}")


def modal_data(world: World, custom_id: str, values: dict[str, str]) -> dict[str, Any]:
    """``data`` for a modal submit, mirroring the layout of the last modal shown with this custom_id."""
    layout: list[dict[str, Any]] = []
    for interaction in reversed(list(world.interactions.values())):
        modal = next(
            (
                r["data"]
                for r in interaction.responses
                if r["type"] == 9 and r["data"].get("custom_id") == custom_id
            ),
            None,
        )
        if modal is not None:
            layout = modal.get("components") or []
            break
    components: list[dict[str, Any]] = []
    placed: set[str] = set()
    for item in layout:
        if item.get("type") == 1:
            inner = [_submitted(c, values, placed) for c in item.get("components") or []]
            components.append({"type": 1, "components": [c for c in inner if c]})
        elif item.get("type") == 18 and isinstance(item.get("component"), dict):
            inner_one = _submitted(item["component"], values, placed)
            if inner_one:
                components.append({"type": 18, "component": inner_one})
    for key, value in values.items():
        if key not in placed:
            components.append({"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]})
    return {"custom_id": custom_id, "components": components}


def _submitted(component: dict[str, Any], values: dict[str, str], placed: set[str]) -> dict[str, Any] | None:
    """A text input as submitted (value from ``values``, empty when the test gave none)."""
    if component.get("type") != 4:
        return None
    custom_id = component.get("custom_id", "")
    placed.add(custom_id)
    return {"type": 4, "custom_id": custom_id, "value": values.get(custom_id, "")}


def _walk(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every component, nested ones included."""
    out: list[dict[str, Any]] = []
    for component in components:
        out.append(component)
        out += _walk(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                out += _walk([component[key]])
    return out
