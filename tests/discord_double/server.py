"""DiscordDouble: the aiohttp server (REST + gateway + CDN on one loopback port) and its test-facing API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .faults import Fault
from .gateway import Gateway, Session
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    command_data,
    component_data,
    modal_data,
    new_interaction,
)
from .messages import MessageWriter
from .payloads import channel_payload, guild_payload, public_attachment, role_payload, user_payload
from .pipeline import API_PREFIX, Pipeline
from .rest import APPLICATION_FLAGS, BotApi
from .routing import Router
from .spec import SpecValidator
from .webhooks import InteractionApi
from .world import BOT_PERMISSIONS, Clock, Interaction, Message, RecordedRequest, World

ROOT = Path(__file__).resolve().parents[2]
# a copy of discord/discord-api-spec's openapi.json (MIT; see openapi/SOURCE.md and openapi/LICENSE),
# kept in the repository so that a fresh clone tests against it with nothing beside it
DEFAULT_SPEC = Path(__file__).parent / "openapi" / "openapi.json"
MAX_REQUEST_BYTES = 200 * 1024 * 1024


class DiscordDouble:
    """A fake Discord (REST API, gateway and CDN) that a real discord.py client talks to over loopback.

    Args:
        spec_path: Discord's OpenAPI description, used to validate every request body.
        token: the bot token the double accepts (``Authorization: Bot <token>`` and IDENTIFY).
        upload_limit: per-file upload limit for guilds at boost tier 0-1 (tier 2: 50 MiB, tier 3: 100 MiB).
    """

    def __init__(
        self,
        *,
        spec_path: Path = DEFAULT_SPEC,
        token: str = "test-token",
        upload_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.token = token
        self.clock = Clock()
        self.world = World(self.clock)
        self.spec = SpecValidator(spec_path)
        self.violations: list[str] = []
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._hooks: list[tuple[Fault, bool, Callable[[RecordedRequest], None]]] = []
        self._writer = MessageWriter(self.world, "", upload_limit)
        self.gateway = Gateway(token, self._ready_payload, self._guild_creates, self.violations.append)
        self._runner: web.AppRunner | None = None
        self._pipeline: Pipeline | None = None
        self.api_base = self.gateway_url = self.cdn_origin = ""

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{scope}/{id}/{filename}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.cdn_origin = f"http://127.0.0.1:{port}"
        self.api_base = self.cdn_origin + API_PREFIX
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"
        self._writer.cdn_origin = self.cdn_origin
        bot = BotApi(self.world, self._writer, self.gateway_url)
        router = Router(bot.routes() + InteractionApi(self.world, self._writer).routes())
        self._pipeline = Pipeline(
            router,
            self.spec,
            self.token,
            self.clock,
            self.violations,
            self.requests,
            self._take_fault,
            self._after,
        )

    async def stop(self) -> None:
        """Close the gateway connections and the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordDouble:
        """Start the double."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the double."""
        await self.stop()

    # -- identity -----------------------------------------------------------------------------------

    @property
    def upload_limit(self) -> int:
        """Per-file upload limit for boost tiers 0-1 (settable)."""
        return self._writer.base_upload_limit

    @upload_limit.setter
    def upload_limit(self, value: int) -> None:
        self._writer.base_upload_limit = value

    @property
    def application_id(self) -> int:
        """The bot's application id."""
        return self.world.application_id

    @property
    def bot_user_id(self) -> int:
        """The bot user's id (equal to the application id, as on Discord)."""
        return self.world.bot_user_id

    @property
    def commands(self) -> dict[int | None, list[dict[str, Any]]]:
        """Registered application commands by guild id (``None``: global), as stored after sync."""
        return self.world.commands

    @property
    def ready_count(self) -> int:
        """How many times READY was sent (one per IDENTIFY)."""
        return self.gateway.ready_count

    @property
    def resume_count(self) -> int:
        """How many RESUMEs succeeded."""
        return self.gateway.resume_count

    def connected(self) -> bool:
        """Whether the bot holds a live gateway connection."""
        return self.gateway.connected()

    # -- the world ----------------------------------------------------------------------------------

    def add_guild(self, name: str = "guild", *, premium_tier: int = 0) -> int:
        """Create a guild (with @everyone and the bot as a member); dispatched if the bot is online."""
        guild = self.world.add_guild(name, premium_tier)
        if self.gateway.session is not None:
            self.gateway.dispatch("GUILD_CREATE", guild_payload(self.world, guild, gateway=True))
        return guild.id

    def add_channel(self, guild_id: int, name: str = "general", *, nsfw: bool = False) -> int:
        """Create a text channel (``nsfw``: age-restricted); sent as CHANNEL_CREATE if the bot is online."""
        channel = self.world.add_channel(guild_id, name, nsfw)
        if self.gateway.session is not None:
            self.gateway.dispatch("CHANNEL_CREATE", channel_payload(channel))
        return channel.id

    def deny_bot(self, channel_id: int, permissions: int) -> None:
        """Deny the bot ``permissions`` in one channel (a member overwrite; 0 lifts it), as an admin
        would in the channel's settings: sent as CHANNEL_UPDATE, reflected in interactions'
        ``app_permissions``, and enforced on the channel's messages with 403 Missing Permissions."""
        channel = self.world.channel(channel_id)
        if channel is None:
            raise ValueError(f"no channel {channel_id}")
        channel.bot_denied = permissions
        if self.gateway.session is not None:
            payload = channel_payload(channel, bot_user_id=self.world.bot_user_id)
            self.gateway.dispatch("CHANNEL_UPDATE", payload)

    def after_request(
        self,
        method: str,
        path_pattern: str,
        callback: Callable[[RecordedRequest], None],
        *,
        with_files: bool = False,
    ) -> None:
        """Call ``callback`` once, right after the double has served the next matching request
        (and before its reply reaches the bot): e.g. to stop a service while a clip is posted."""
        self._hooks.append(
            (Fault(method.upper(), path_pattern, 0, 1, 0.0, None, False), with_files, callback)
        )

    def add_member(
        self, guild_id: int, name: str = "member", *, moderator: bool = False, locale: str = "en-US"
    ) -> int:
        """Create a user in a guild; ``moderator`` gives them a role with MANAGE_MESSAGES; ``locale``
        is their Discord client's language."""
        member = self.world.add_member(guild_id, name, moderator)
        member.locale = locale
        return member.user_id

    def set_locale(self, user_id: int, locale: str, guild_id: int | None = None) -> None:
        """Change a member's client language (every guild they are in, or one)."""
        for guild in self.world.guilds.values():
            if (guild_id is None or guild.id == guild_id) and user_id in guild.members:
                guild.members[user_id].locale = locale

    def add_role(self, guild_id: int, name: str, *, permissions: int = 0) -> int:
        """Create a role; ``permissions`` is the bit set (``MANAGE_GUILD``, ``MANAGE_MESSAGES``, ...)."""
        role = self.world.add_role(guild_id, name, permissions)
        if self.gateway.session is not None:
            self.gateway.dispatch(
                "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role_payload(role)}
            )
        return role.id

    def give_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        """Give a member a role (the next interaction's member object carries it)."""
        self.world.set_role(guild_id, user_id, role_id, True)

    def take_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        """Take a role away from a member."""
        self.world.set_role(guild_id, user_id, role_id, False)

    def host_attachment(
        self, filename: str, data: bytes, content_type: str | None = None, *, declared_size: int | None = None
    ) -> dict[str, Any]:
        """Host a file on the CDN, as a user's upload to a slash command; returns the attachment object."""
        if not self.cdn_origin:
            raise RuntimeError("start the double before hosting attachments (the CDN URL needs its port)")
        hosted = self._writer.attachment(
            self.world.application_id, filename, data, content_type, declared_size=declared_size
        )
        return public_attachment(hosted)

    # -- interactions -------------------------------------------------------------------------------

    def _bot_permissions(self, channel_id: int) -> int:
        """What the bot may do in a channel: its role's permissions less the channel's denials."""
        channel = self.world.channel(channel_id)
        return BOT_PERMISSIONS & ~(channel.bot_denied if channel is not None else 0)

    def _upload_limit(self, guild_id: int) -> int:
        """The guild's per-file limit, as interactions report it in ``attachment_size_limit``."""
        return self.world.upload_limit(guild_id, self.upload_limit)

    async def _dispatch(self, interaction: Interaction) -> Interaction:
        """Send INTERACTION_CREATE; the 3 s and 15 min clocks start now."""
        interaction.dispatched_at = self.clock.now()
        self.gateway.dispatch("INTERACTION_CREATE", interaction.payload)
        await asyncio.sleep(0)
        return interaction

    async def slash(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        attachments: dict[str, dict[str, Any]] | None = None,
        app_permissions: int | None = None,
    ) -> Interaction:
        """Dispatch a chat-input command as INTERACTION_CREATE; options are typed per the registered command.

        Args:
            name: the command name, or ``"group sub"`` for a subcommand.
            options: option name to value; an attachment option takes the attachment's id (or the dict
                ``host_attachment`` returned).
            attachments: attachment objects for ``data.resolved.attachments`` (keyed by id or option name);
                attachments made with ``host_attachment`` are found without this.
        """
        data = command_data(self.world, guild_id, name, options, attachments)
        interaction = new_interaction(
            self.world,
            APPLICATION_COMMAND,
            guild_id,
            channel_id,
            user_id,
            data,
            app_permissions=self._bot_permissions(channel_id) if app_permissions is None else app_permissions,
            upload_limit=self._upload_limit(guild_id),
        )
        return await self._dispatch(interaction)

    async def click(self, channel_id: int, message_id: int, custom_id: str, user_id: int) -> Interaction:
        """Dispatch a click on a button of a message the bot sent."""
        message = self.world.find_message(channel_id, message_id)
        channel = self.world.channel(channel_id)
        if message is None or channel is None:
            raise ValueError(f"no message {message_id} in channel {channel_id}")
        data = component_data(message, custom_id)
        interaction = new_interaction(
            self.world,
            MESSAGE_COMPONENT,
            channel.guild_id,
            channel_id,
            user_id,
            data,
            app_permissions=self._bot_permissions(channel_id),
            upload_limit=self._upload_limit(channel.guild_id),
            message=message,
        )
        return await self._dispatch(interaction)

    async def submit_modal(
        self, channel_id: int, custom_id: str, values: dict[str, str], user_id: int, guild_id: int
    ) -> Interaction:
        """Dispatch a modal submit; the layout mirrors the last modal shown with this ``custom_id``."""
        data = modal_data(self.world, custom_id, values)
        interaction = new_interaction(
            self.world,
            MODAL_SUBMIT,
            guild_id,
            channel_id,
            user_id,
            data,
            app_permissions=self._bot_permissions(channel_id),
            upload_limit=self._upload_limit(guild_id),
        )
        return await self._dispatch(interaction)

    async def autocomplete(
        self, guild_id: int, channel_id: int, user_id: int, name: str, options: dict[str, Any], focused: str
    ) -> Interaction:
        """Dispatch an autocomplete request for the option ``focused`` of a command (its partial
        value in ``options``); the bot answers with choices (response type 8)."""
        data = command_data(self.world, guild_id, name, options, None)
        for option in data["options"]:
            if option["name"] == focused:
                option["focused"] = True
        interaction = new_interaction(
            self.world,
            AUTOCOMPLETE,
            guild_id,
            channel_id,
            user_id,
            data,
            app_permissions=self._bot_permissions(channel_id),
            upload_limit=self._upload_limit(guild_id),
        )
        return await self._dispatch(interaction)

    async def replay(self, interaction: Interaction) -> None:
        """Send the same INTERACTION_CREATE again (same id and token), as after a gateway hiccup."""
        self.gateway.dispatch("INTERACTION_CREATE", interaction.payload)
        await asyncio.sleep(0)

    # -- observation --------------------------------------------------------------------------------

    def messages(self, channel_id: int) -> list[Message]:
        """Messages in a channel (deleted ones left out), oldest first; ephemeral ones carry flag 64."""
        return [m for m in self.world.messages.get(channel_id, []) if not m.deleted]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Poll until ``predicate()`` is true.

        Raises:
            TimeoutError: it stayed false for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s; violations so far: {self.violations}"
                )
            await asyncio.sleep(0.01)

    async def wait_for_async(self, predicate: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
        """Poll until the coroutine ``predicate()`` returns true (e.g. a Redis read).

        Raises:
            TimeoutError: it stayed false for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s; violations so far: {self.violations}"
                )
            await asyncio.sleep(0.02)

    async def wait_for_message(
        self, channel_id: int, predicate: Callable[[Message], bool], timeout: float = 10
    ) -> Message:
        """Wait for a (not deleted) message in a channel that satisfies ``predicate``."""
        found: list[Message] = []

        def check() -> bool:
            found[:] = [m for m in self.messages(channel_id) if predicate(m)]
            return bool(found)

        await self.wait_for(check, timeout)
        return found[0]

    # -- fault injection and time -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float = 0.1,
        code: int | None = None,
        global_: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of serving them.

        Args:
            method: HTTP method, or ``"*"``.
            path_pattern: a glob over the path below ``/api/v10`` (``/channels/*/messages``) or a spec
                template (``/channels/{channel_id}/messages``).
            status: 429 (with Retry-After, X-RateLimit-*, Via and a ``retry_after`` body), 5xx, 403, ...
            code: the JSON error code (403 defaults to 50013 "Missing Permissions").
            global_: for 429, a global rate limit.
        """
        self._faults.append(Fault(method.upper(), path_pattern, status, times, retry_after, code, global_))

    def advance_clock(self, seconds: float) -> None:
        """Pretend ``seconds`` passed (tokens expire after 15 min, initial responses after 3 s)."""
        self.clock.advance(seconds)

    async def drop_gateway(self, *, resumable: bool = True) -> None:
        """Close the bot's websocket: code 4000 so it RESUMEs, or 4009 with the session invalidated."""
        await self.gateway.drop(resumable=resumable)

    # -- gateway payloads ---------------------------------------------------------------------------

    def _ready_payload(self, session: Session) -> dict[str, Any]:
        """READY for a new session."""
        return {
            "v": 10,
            "user": user_payload(self.world, self.world.bot_user_id),
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.world.application_id), "flags": APPLICATION_FLAGS},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }

    def _guild_creates(self) -> list[dict[str, Any]]:
        """One GUILD_CREATE payload per guild, sent after READY."""
        return [guild_payload(self.world, g, gateway=True) for g in self.world.guilds.values()]

    # -- HTTP ---------------------------------------------------------------------------------------

    async def _unknown(self, request: web.Request) -> web.Response:
        """Anything outside /api/v10, /gateway and the CDN."""
        self.violations.append(f"{request.method} {request.path}: not a Discord URL the double knows")
        body = b'{"message": "404: Not Found", "code": 0}'
        return web.Response(status=404, body=body, headers={"Content-Type": "application/json"})

    async def _cdn(self, request: web.Request) -> web.Response:
        """Serve a hosted attachment with its Content-Type and Content-Length."""
        attachment_id = request.match_info["id"]
        hosted = self.world.hosted.get(int(attachment_id)) if attachment_id.isdigit() else None
        if hosted is None or hosted["filename"] != request.match_info["filename"]:
            self.violations.append(f"GET {request.path}: no such attachment on the CDN")
            return web.Response(status=404, text="Not Found")
        return web.Response(body=hosted["data"], content_type=hosted["content_type"])

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        """Serve a REST request through the pipeline."""
        if self._pipeline is None:
            raise web.HTTPServiceUnavailable()
        return await self._pipeline.serve(request)

    def _after(self, record: RecordedRequest) -> None:
        """Run the first hook that matches a request the double just served."""
        for hook in self._hooks:
            match, with_files, callback = hook
            if match.matches(record.method, record.path, record.route) and (record.files or not with_files):
                self._hooks.remove(hook)
                callback(record)
                return

    def _take_fault(self, method: str, path: str, template: str | None) -> Fault | None:
        """The first planned fault matching this request, used up by one."""
        for fault in self._faults:
            if fault.matches(method, path, template):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None
