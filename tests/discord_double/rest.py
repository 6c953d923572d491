"""REST routes that need the bot token: identity, gateway discovery, commands, channels and messages.

Real: the responses' shapes, bulk-overwrite semantics for commands (ids kept per name and type),
``nonce`` + ``enforce_nonce`` deduplication, 404s with Discord's codes for unknown objects.
Simplified: the bot may post and edit anywhere (channel permission overwrites are not modelled;
use ``fail_next(..., 403)`` for "Missing Permissions"); only the bot's own messages can be edited.
"""

from __future__ import annotations

from typing import Any

from .messages import MessageWriter
from .payloads import channel_payload, guild_payload, message_payload, stored_command, user_payload
from .routing import Call, Reply, Route
from .rules import DiscordError
from .world import ATTACH_FILES, EPHEMERAL, SEND_MESSAGES, VIEW_CHANNEL, Message, World

NONCE_WINDOW_S = 5 * 60.0  # Discord dedups on nonce "within the past few minutes"
APPLICATION_FLAGS = (1 << 19) | (1 << 23)  # GATEWAY_MESSAGE_CONTENT_LIMITED, APPLICATION_COMMAND_BADGE


class BotApi:
    """Handlers for the bot-authenticated routes."""

    def __init__(self, world: World, writer: MessageWriter, gateway_url: str) -> None:
        self.world = world
        self.writer = writer
        self.gateway_url = gateway_url
        self._nonces: dict[tuple[int, str], tuple[float, Message]] = {}

    def routes(self) -> list[Route]:
        """Every route this class serves."""
        r = Route
        return [
            r("GET", "/users/@me", self.get_me),
            r("GET", "/gateway", self.get_gateway, bot_auth=False),
            r("GET", "/gateway/bot", self.get_gateway_bot),
            r("GET", "/applications/@me", self.get_application),
            r("GET", "/oauth2/applications/@me", self.get_application),  # what Client.login() calls
            r("GET", "/applications/{application_id}/commands", self.get_commands),
            r("PUT", "/applications/{application_id}/commands", self.put_commands),
            r("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands),
            r("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands),
            r("GET", "/channels/{channel_id}", self.get_channel),
            r("POST", "/channels/{channel_id}/messages", self.create_message),
            r("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            r("GET", "/guilds/{guild_id}", self.get_guild),
        ]

    # -- identity and discovery ---------------------------------------------------------------------

    async def get_me(self, call: Call) -> Reply:
        """The bot user."""
        return 200, user_payload(self.world, self.world.bot_user_id)

    async def get_gateway(self, call: Call) -> Reply:
        """Where the gateway is."""
        return 200, {"url": self.gateway_url}

    async def get_gateway_bot(self, call: Call) -> Reply:
        """Where the gateway is, with shard advice and session-start limits."""
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    async def get_application(self, call: Call) -> Reply:
        """The bot's application."""
        world = self.world
        return 200, {
            "id": str(world.application_id),
            "name": world.users[world.bot_user_id],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": APPLICATION_FLAGS,
            "owner": user_payload(world, world.owner_id),
            "bot": user_payload(world, world.bot_user_id),
            "team": None,
            "interactions_endpoint_url": None,
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
        }

    # -- application commands -----------------------------------------------------------------------

    def _command_scope(self, call: Call) -> int | None:
        if call.int_param("application_id") != self.world.application_id:
            raise DiscordError(
                403, 50001, violation=f"{call.method} {call.path}: not this bot's application id"
            )
        if "guild_id" not in call.params:
            return None
        guild_id = call.int_param("guild_id")
        if guild_id not in self.world.guilds:
            raise DiscordError(404, 10004, violation=f"{call.method} {call.path}: unknown guild {guild_id}")
        return guild_id

    async def get_commands(self, call: Call) -> Reply:
        """The registered commands of one scope."""
        return 200, self.world.commands.get(self._command_scope(call), [])

    async def put_commands(self, call: Call) -> Reply:
        """Bulk-overwrite the commands of one scope."""
        scope = self._command_scope(call)
        old = self.world.commands.get(scope, [])
        stored = [stored_command(self.world, body, scope, old) for body in call.body or []]
        self.world.commands[scope] = stored
        return 200, stored

    # -- channels and messages ----------------------------------------------------------------------

    def _channel_id(self, call: Call) -> int:
        channel_id = call.int_param("channel_id")
        if self.world.channel(channel_id) is None:
            raise DiscordError(
                404, 10003, violation=f"{call.method} {call.path}: unknown channel {channel_id}"
            )
        return channel_id

    def _require(self, call: Call, needed: int) -> None:
        """A 403 Missing Permissions when the channel denies the bot what ``call`` needs."""
        channel = self.world.channel(call.int_param("channel_id"))
        if channel is not None and channel.bot_denied & needed:
            raise DiscordError(403, 50013, "Missing Permissions")

    def _message(self, call: Call) -> Message:
        channel_id = self._channel_id(call)
        self._require(call, VIEW_CHANNEL)
        message = self.world.find_message(channel_id, call.int_param("message_id"))
        if message is None or message.flags & EPHEMERAL:  # ephemeral ones exist only for their user
            raise DiscordError(404, 10008, violation=f"{call.method} {call.path}: unknown or deleted message")
        return message

    async def get_channel(self, call: Call) -> Reply:
        """A channel object."""
        channel = self.world.channel(self._channel_id(call))
        assert channel is not None
        return 200, channel_payload(channel, bot_user_id=self.world.bot_user_id)

    async def get_guild(self, call: Call) -> Reply:
        """A guild object."""
        guild = self.world.guilds.get(call.int_param("guild_id"))
        if guild is None:
            raise DiscordError(404, 10004, violation=f"{call.method} {call.path}: unknown guild")
        return 200, guild_payload(self.world, guild, gateway=False)

    async def create_message(self, call: Call) -> Reply:
        """Post a message; a repeated ``nonce`` with ``enforce_nonce`` returns the first message."""
        channel_id = self._channel_id(call)
        self._require(call, VIEW_CHANNEL | SEND_MESSAGES | (ATTACH_FILES if call.uploads else 0))
        body: dict[str, Any] = call.body or {}
        nonce = body.get("nonce")
        now = self.world.clock.now()
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None and now - seen[0] <= NONCE_WINDOW_S:
                return 200, message_payload(self.world, seen[1])
        message = self.writer.create(call.method, call.path, channel_id, body, call.uploads)
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, str(nonce))] = (now, message)
        return 200, message_payload(self.world, message)

    async def get_message(self, call: Call) -> Reply:
        """One message."""
        return 200, message_payload(self.world, self._message(call))

    async def edit_message(self, call: Call) -> Reply:
        """Edit one of the bot's messages."""
        message = self._message(call)
        if message.author_id != self.world.bot_user_id:
            raise DiscordError(
                403,
                50005,
                "Cannot edit a message authored by another user",
                violation=f"PATCH {call.path}: the bot can only edit its own messages",
            )
        self.writer.edit(call.method, call.path, message, call.body or {}, call.uploads)
        return 200, message_payload(self.world, message)

    async def delete_message(self, call: Call) -> Reply:
        """Delete a message."""
        message = self._message(call)
        message.deleted = True
        return 204, None
