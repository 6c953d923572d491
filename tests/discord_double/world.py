"""The double's state: a clock, snowflakes, guilds, channels, members, messages and interactions.

Everything here is plain data. JSON payloads in Discord's shapes are built in ``payloads.py``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38

EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS
MODERATOR_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES

# Message flags and types used by the double.
EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15
MESSAGE_DEFAULT = 0
MESSAGE_CHAT_INPUT_COMMAND = 20

TOKEN_TTL_S = 15 * 60.0
INITIAL_RESPONSE_DEADLINE_S = 3.0


class Clock:
    """Wall-clock time that tests can move forward (``advance_clock``) without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Seconds since the Unix epoch, as the double sees them."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Pretend ``seconds`` have passed."""
        self.offset += seconds


class Snowflakes:
    """Generates real, increasing snowflakes: ``(unix_ms - DISCORD_EPOCH) << 22 | counter``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        """A fresh snowflake for the current (possibly advanced) time."""
        ms = int(self._clock.now() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (next(self._counter) & 0xFFF)
        self._last = value = max(value, self._last + 1)
        return value


@dataclass
class Role:
    """A guild role."""

    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False


@dataclass
class Channel:
    """A guild text channel."""

    id: int
    guild_id: int
    name: str
    position: int = 0
    #: an age-restricted channel
    nsfw: bool = False
    #: permissions a member overwrite denies the bot here (``deny_bot``)
    bot_denied: int = 0


@dataclass
class Member:
    """A user in a guild (the bot is one too)."""

    user_id: int
    guild_id: int
    name: str
    role_ids: list[int]
    joined_at: float
    bot: bool = False
    #: the language of the member's Discord client (sent as each interaction's ``locale``)
    locale: str = "en-US"


@dataclass
class Guild:
    """A guild with its roles, channels and members."""

    id: int
    name: str
    premium_tier: int
    owner_id: int
    created_at: float
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    #: the community's language in Discord's server settings (``preferred_locale``)
    locale: str = "en-US"


@dataclass
class Message:
    """A message as the double stores it; ``attachments`` keep their bytes under ``data``."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    nonce: str | int | None = None
    flags: int = 0
    type: int = MESSAGE_DEFAULT
    tts: bool = False
    message_reference: dict[str, Any] | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    edits: int = 0
    deleted: bool = False
    created_at: float = 0.0
    edited_at: float | None = None


@dataclass
class Interaction:
    """One interaction the double dispatched and everything the bot did with it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int | None
    dispatched_at: float
    payload: dict[str, Any]
    responses: list[dict[str, Any]] = field(default_factory=list)
    followups: list[Message] = field(default_factory=list)
    original: Message | None = None

    @property
    def acknowledged(self) -> bool:
        """Whether an initial response was accepted."""
        return bool(self.responses)


@dataclass
class RecordedRequest:
    """One HTTP request the bot made, with what the double answered."""

    method: str
    path: str
    query: dict[str, str]
    route: str | None
    json: Any
    files: list[dict[str, Any]]
    time: float
    status: int = 0


class World:
    """All guilds, messages, interactions and hosted files of one double."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.ids = Snowflakes(clock)
        self.application_id = self.ids.next()
        self.bot_user_id = self.application_id  # Discord gives a bot user its application's id
        self.owner_id = self.ids.next()
        self.users: dict[int, str] = {self.bot_user_id: "reelbot-double", self.owner_id: "owner"}
        self.guilds: dict[int, Guild] = {}
        self.messages: dict[int, list[Message]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.hosted: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}

    # -- building the world -------------------------------------------------------------------------

    def add_guild(self, name: str, premium_tier: int) -> Guild:
        """Create a guild with @everyone (id = guild id), a bot role and the bot as a member."""
        now = self.clock.now()
        guild = Guild(self.ids.next(), name, premium_tier, self.owner_id, now)
        guild.roles[guild.id] = Role(guild.id, "@everyone", EVERYONE_PERMISSIONS)
        bot_role = Role(self.ids.next(), self.users[self.bot_user_id], BOT_PERMISSIONS, 1, managed=True)
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user_id] = Member(
            self.bot_user_id, guild.id, self.users[self.bot_user_id], [bot_role.id], now, bot=True
        )
        self.guilds[guild.id] = guild
        return guild

    def add_channel(self, guild_id: int, name: str, nsfw: bool = False) -> Channel:
        """Create a text channel in a guild (``nsfw``: age-restricted)."""
        guild = self.guilds[guild_id]
        channel = Channel(self.ids.next(), guild_id, name, len(guild.channels), nsfw)
        guild.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel

    def add_member(self, guild_id: int, name: str, moderator: bool) -> Member:
        """Create a user and add them to a guild, with a MANAGE_MESSAGES role when a moderator."""
        guild = self.guilds[guild_id]
        user_id = self.ids.next()
        self.users[user_id] = name
        role_ids: list[int] = []
        if moderator:
            role = next((r for r in guild.roles.values() if r.name == "moderator"), None)
            if role is None:
                role = Role(self.ids.next(), "moderator", MODERATOR_PERMISSIONS, len(guild.roles))
                guild.roles[role.id] = role
            role_ids.append(role.id)
        member = Member(user_id, guild_id, name, role_ids, self.clock.now())
        guild.members[user_id] = member
        return member

    def add_role(self, guild_id: int, name: str, permissions: int) -> Role:
        """Create a role in a guild (positioned above the existing ones)."""
        guild = self.guilds[guild_id]
        role = Role(self.ids.next(), name, permissions, len(guild.roles))
        guild.roles[role.id] = role
        return role

    def set_role(self, guild_id: int, user_id: int, role_id: int, held: bool) -> None:
        """Give a member a role, or take it away; later interactions carry the change."""
        member = self.guilds[guild_id].members[user_id]
        if role_id not in self.guilds[guild_id].roles:
            raise ValueError(f"guild {guild_id} has no role {role_id}")
        if held and role_id not in member.role_ids:
            member.role_ids.append(role_id)
        elif not held and role_id in member.role_ids:
            member.role_ids.remove(role_id)

    # -- lookups -------------------------------------------------------------------------------------

    def channel(self, channel_id: int) -> Channel | None:
        """The channel with this id, in any guild."""
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return None

    def member(self, guild_id: int, user_id: int) -> Member | None:
        """A guild member, or None."""
        guild = self.guilds.get(guild_id)
        return None if guild is None else guild.members.get(user_id)

    def permissions(self, guild_id: int, user_id: int) -> int:
        """A member's guild-level permissions: @everyone plus their roles."""
        guild = self.guilds[guild_id]
        member = guild.members[user_id]
        value = guild.roles[guild.id].permissions
        for role_id in member.role_ids:
            value |= guild.roles[role_id].permissions
        return value

    def find_message(self, channel_id: int, message_id: int) -> Message | None:
        """A message that exists and is not deleted."""
        for message in self.messages.get(channel_id, []):
            if message.id == message_id and not message.deleted:
                return message
        return None

    def upload_limit(self, guild_id: int | None, base_limit: int) -> int:
        """Per-file upload limit: ``base_limit`` for boost tiers 0-1, 50 MiB tier 2, 100 MiB tier 3."""
        tier = 0 if guild_id is None or guild_id not in self.guilds else self.guilds[guild_id].premium_tier
        return {2: 50 * 1024 * 1024, 3: 100 * 1024 * 1024}.get(tier, base_limit)

    def new_message(self, channel_id: int, author_id: int, **fields: Any) -> Message:
        """Create and store a message in a channel."""
        channel = self.channel(channel_id)
        message = Message(
            id=self.ids.next(),
            channel_id=channel_id,
            guild_id=None if channel is None else channel.guild_id,
            author_id=author_id,
            created_at=self.clock.now(),
            **fields,
        )
        self.messages.setdefault(channel_id, []).append(message)
        return message

    def interaction_by_token(self, token: str) -> Interaction | None:
        """The interaction whose token this is."""
        return next((i for i in self.interactions.values() if i.token == token), None)

    def find_command(self, guild_id: int | None, name: str) -> dict[str, Any] | None:
        """A registered command by name: the guild's own first, then global."""
        for scope in (guild_id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        return None
