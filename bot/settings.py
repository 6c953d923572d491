"""The Discord bot's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.attachments import DEFAULT_MAX_DECODES
from bot.enhance import EnhanceSettings
from bot.guildconfig import GuildLimits, limits_from_env
from bot.origins import origin_text, parse_origin

#: where attachments may be downloaded from unless DISCORD_CDN_ORIGINS says otherwise
DEFAULT_CDN_ORIGINS = ("https://cdn.discordapp.com", "https://media.discordapp.net")

TOKEN_HELP = (
    "DISCORD_TOKEN is not set. Create a bot at https://discord.com/developers/applications "
    "(New Application > Bot > Reset Token), put the token in DISCORD_TOKEN, and invite the bot "
    "with the scopes 'bot' and 'applications.commands' and the permissions Send Messages, "
    "Attach Files and Embed Links."
)


class ConfigurationError(ValueError):
    """A setting is missing or wrong; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class BotSettings:
    """How the bot reaches Discord and behaves in a guild."""

    discord_token: str = ""
    #: REST base for Discord-compatible servers and test doubles ("" = Discord)
    api_base: str = ""
    #: gateway URL for Discord-compatible servers and test doubles ("" = Discord)
    gateway_url: str = ""
    #: the only origins attachments may be downloaded from (no redirects are followed)
    cdn_origins: tuple[str, ...] = DEFAULT_CDN_ORIGINS
    #: register the slash commands in this guild only (instant, for development); 0 = globally
    dev_guild_id: int = 0
    #: the largest image attachment accepted, in bytes
    attachment_max_bytes: int = 10 * 1024 * 1024
    #: image attachments decoded at once (each may take ~110 MiB at the 4096x4096 limit)
    image_decodes: int = DEFAULT_MAX_DECODES
    #: the status message is edited at most once per this many seconds
    status_edit_seconds: float = 5.0
    #: clips larger than this are re-encoded or linked (0 = the guild's own upload limit)
    max_upload_bytes: int = 0
    #: every guild's limits until its admins change them (REELBOT_LIMIT_*, REELBOT_GUILD_CAP)
    limits: GuildLimits = field(default_factory=GuildLimits)
    #: prompt enhancement through Amazon Bedrock (REELBOT_ENHANCE_*)
    enhance: EnhanceSettings = field(default_factory=EnhanceSettings)
    #: an Amazon Bedrock guardrail that screens prompts too ("" = none), and its version
    guardrail_id: str = ""
    guardrail_version: str = "DRAFT"
    #: where the bot serves /healthz and /metrics (port 0 = off)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9109
    #: publish the queue depth to CloudWatch under this namespace ("" = off)
    cloudwatch_namespace: str = ""
    #: Discord user ids of the deployment's operators (/queue pause, resume, drain)
    operator_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.attachment_max_bytes < 1024:
            raise ValueError("REELBOT_ATTACHMENT_MAX_BYTES must be at least 1024")
        if self.image_decodes < 1:
            raise ValueError("REELBOT_IMAGE_DECODES must be at least 1")
        if self.status_edit_seconds < 1:
            raise ValueError("REELBOT_STATUS_EDIT_SECONDS must be at least 1 (Discord rate-limits edits)")
        if not self.cdn_origins:
            raise ValueError("DISCORD_CDN_ORIGINS: give at least one origin, e.g. https://cdn.discordapp.com")
        for origin in self.cdn_origins:
            try:
                parse_origin(origin)  # the parser each attachment's URL is checked with
            except ValueError as exc:
                raise ValueError(f"DISCORD_CDN_ORIGINS: {exc}") from None

    def require_token(self) -> str:
        """The token, or ConfigurationError with how to get one."""
        if not self.discord_token.strip():
            raise ConfigurationError(TOKEN_HELP)
        return self.discord_token.strip()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BotSettings:
        """Build settings from ``DISCORD_*`` and ``REELBOT_*`` variables.

        Raises:
            ValueError: a variable does not parse; the message names it.
        """
        values: dict[str, object] = {}
        text = {
            "DISCORD_TOKEN": "discord_token",
            "DISCORD_API_BASE": "api_base",
            "DISCORD_GATEWAY_URL": "gateway_url",
            "REELBOT_GUARDRAIL_ID": "guardrail_id",
            "REELBOT_GUARDRAIL_VERSION": "guardrail_version",
            "REELBOT_BOT_METRICS_HOST": "metrics_host",
            "REELBOT_CLOUDWATCH_NAMESPACE": "cloudwatch_namespace",
        }
        for name, attr in text.items():
            if environ.get(name):
                values[attr] = environ[name]
        if environ.get("DISCORD_CDN_ORIGINS"):
            origins = [o.strip() for o in environ["DISCORD_CDN_ORIGINS"].split(",") if o.strip()]
            try:
                values["cdn_origins"] = tuple(origin_text(parse_origin(o)) for o in origins)
            except ValueError as exc:
                raise ValueError(f"DISCORD_CDN_ORIGINS: {exc}") from None
        numbers: dict[str, tuple[str, type]] = {
            "REELBOT_DEV_GUILD_ID": ("dev_guild_id", int),
            "REELBOT_ATTACHMENT_MAX_BYTES": ("attachment_max_bytes", int),
            "REELBOT_IMAGE_DECODES": ("image_decodes", int),
            "REELBOT_STATUS_EDIT_SECONDS": ("status_edit_seconds", float),
            "REELBOT_MAX_UPLOAD_BYTES": ("max_upload_bytes", int),
            "REELBOT_BOT_METRICS_PORT": ("metrics_port", int),
        }
        for name, (attr, kind) in numbers.items():
            if name in environ:
                try:
                    values[attr] = kind(environ[name])
                except ValueError:
                    raise ValueError(f"{name}={environ[name]!r} is not a valid {kind.__name__}") from None
        if environ.get("REELBOT_OPERATOR_IDS"):
            ids = [part.strip() for part in environ["REELBOT_OPERATOR_IDS"].split(",") if part.strip()]
            if not all(i.isdigit() for i in ids):
                raise ValueError("REELBOT_OPERATOR_IDS: give Discord user ids (numbers), comma-separated")
            values["operator_ids"] = tuple(ids)
        values["limits"] = limits_from_env(environ)
        values["enhance"] = EnhanceSettings.from_env(environ)
        return cls(**values)  # type: ignore[arg-type]
