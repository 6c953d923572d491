"""Per-guild settings admins tune with /settings, kept in Redis, defaults from the environment.

A guild's settings are one Redis hash (``Keys.guild_config``) with a field per value an
admin has set (``limit:<name>``, ``option:enhance``, ``option:language``) and per role tier
(``tier:<role id>``, JSON). Only values
an admin set are stored, so a changed default in the environment reaches every guild that
did not override it, and two admins changing different values at once cannot undo each
other's change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from redis.asyncio import Redis

from bot.errors import UserFacingError
from bot.i18n import LANGUAGES, _
from inference.contract import Keys
from inference.jobqueue import Limits


class SettingsError(UserFacingError, ValueError):
    """An admin's setting is out of range; the message says what is allowed."""


@dataclass(frozen=True, slots=True)
class GuildLimits:
    """The limits a guild's admins can tune; 0 turns a limit off."""

    #: videos a member may ask for per ``rate_minutes`` minutes
    rate: int = 5
    rate_minutes: int = 60
    #: a member's videos waiting or rendering at once
    active: int = 2
    #: clips per UTC day: per member, and for the whole server
    member_daily: int = 0
    guild_daily: int = 100
    #: the server's videos waiting at once
    guild_queue: int = 100
    #: refused requests in a row (within 10 minutes) before a cooldown starts
    strikes: int = 3
    #: the first cooldown; it doubles with each further refusal, up to an hour
    cooldown_seconds: int = 60
    #: moderators skip the per-member limits and the daily quotas
    exempt_moderators: bool = False


#: what admins may set each value to (the environment's defaults are checked too)
BOUNDS: Mapping[str, tuple[int, int]] = {
    "rate": (0, 1000),
    "rate_minutes": (1, 7 * 24 * 60),
    "active": (0, 100),
    "member_daily": (0, 10_000),
    "guild_daily": (0, 100_000),
    "guild_queue": (0, 100_000),
    "strikes": (0, 100),
    "cooldown_seconds": (1, 24 * 3600),
}

#: the environment variable holding each default (the guild queue cap is the queue's own
#: REELBOT_GUILD_CAP, which also caps jobs queued without member limits)
ENV_NAMES: Mapping[str, str] = {
    f.name: "REELBOT_GUILD_CAP" if f.name == "guild_queue" else f"REELBOT_LIMIT_{f.name.upper()}"
    for f in fields(GuildLimits)
}


def check_value(name: str, value: int | bool) -> int | bool:
    """Check one limit value; returns it.

    Raises:
        SettingsError: an unknown name, or a value out of range.
    """
    if name not in ENV_NAMES:
        raise SettingsError(
            _("There is no limit called `{name}`; use one of {names}.", name=name, names=", ".join(ENV_NAMES))
        )
    if name == "exempt_moderators":
        return bool(value)
    low, high = BOUNDS[name]
    if not low <= int(value) <= high:
        raise SettingsError(
            _(
                "`{name}` must be between {low} and {high}; {value} is not.",
                name=name,
                low=low,
                high=high,
                value=value,
            )
        )
    return int(value)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def limits_from_env(environ: Mapping[str, str]) -> GuildLimits:
    """The deployment's default limits, from ``REELBOT_LIMIT_*`` (and ``REELBOT_GUILD_CAP``).

    Raises:
        ValueError: a variable does not parse or is out of range; the message names it.
    """
    values: dict[str, Any] = {}
    for name, env in ENV_NAMES.items():
        if env not in environ:
            continue
        raw = environ[env].strip()
        if name == "exempt_moderators":
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError(f"{env}={raw!r}: use true or false")
            values[name] = raw.lower() in _TRUE
            continue
        try:
            number = int(raw)
        except ValueError:
            raise ValueError(f"{env}={raw!r} is not a whole number") from None
        try:
            values[name] = check_value(name, number)
        except SettingsError as exc:
            raise ValueError(f"{env}: {exc}") from None
    return GuildLimits(**values)


@dataclass(frozen=True, slots=True)
class Tier:
    """Limits a role gives its members; ``None`` keeps the server's value."""

    role_id: str
    #: the role's name when the tier was set, for display
    role_name: str = ""
    rate: int | None = None
    active: int | None = None
    member_daily: int | None = None
    #: share of the server's turns in the queue (1 = everyone's share)
    weight: float = 1.0
    #: members with this role skip the per-member limits and the daily quotas
    exempt: bool = False

    def __post_init__(self) -> None:
        for name in ("rate", "active", "member_daily"):
            value = getattr(self, name)
            if value is not None:
                check_value(name, value)
        if not 0.1 <= self.weight <= 10:
            raise SettingsError(
                _("A tier's weight must be between 0.1 and 10; {weight} is not.", weight=self.weight)
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Tier:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """A guild's stored settings: the limit values admins set, and the role tiers."""

    overrides: dict[str, int | bool] = field(default_factory=dict)
    tiers: dict[str, Tier] = field(default_factory=dict)
    #: the guild's /video enhance default (off, on, review); None = the deployment's
    enhance: str | None = None
    #: the guild's language for Reelbot (a code of bot.i18n.LANGUAGES); None = Discord's server setting
    language: str | None = None

    def limits(self, defaults: GuildLimits) -> GuildLimits:
        """The effective limits: the admins' values over the deployment's defaults."""
        known = {k: v for k, v in self.overrides.items() if k in ENV_NAMES}
        return replace(defaults, **known)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class MemberPolicy:
    """What applies to one member: the queue's limits, their weight, and why."""

    limits: Limits
    weight: float
    #: the tiers (role names) that raised this member's limits
    tiers: tuple[str, ...]


#: operator-level settings admins cannot change (seconds)
STRIKE_WINDOW_SECONDS = 600
COOLDOWN_MAX_SECONDS = 3600


def member_policy(
    defaults: GuildLimits, config: GuildConfig, role_ids: tuple[str, ...], moderator: bool
) -> MemberPolicy:
    """The limits for a member with these roles: the most generous of their tiers per value."""
    base = config.limits(defaults)
    tiers = [config.tiers[r] for r in role_ids if r in config.tiers]

    def best(name: str) -> int:
        value: int = getattr(base, name)
        for tier in tiers:
            raised = getattr(tier, name)
            if raised is not None:
                # 0 means "no limit", the most generous value of all
                value = 0 if raised == 0 or value == 0 else max(value, raised)
        return value

    exempt = (moderator and base.exempt_moderators) or any(t.exempt for t in tiers)
    limits = Limits(
        rate=best("rate"),
        rate_period=base.rate_minutes * 60.0,
        active=best("active"),
        member_daily=best("member_daily"),
        guild_daily=base.guild_daily,
        guild_queue=base.guild_queue,
        strikes=base.strikes,
        strike_window=float(STRIKE_WINDOW_SECONDS),
        cooldown=float(base.cooldown_seconds),
        cooldown_max=float(max(COOLDOWN_MAX_SECONDS, base.cooldown_seconds)),
        exempt=exempt,
    )
    weight = max((t.weight for t in tiers), default=1.0)
    return MemberPolicy(limits, weight, tuple(t.role_name or t.role_id for t in tiers))


def guild_config_from(raw: Mapping[str, str]) -> GuildConfig:
    """The limit settings in a guild's settings hash (the moderation settings share it)."""
    overrides: dict[str, int | bool] = {}
    tiers: dict[str, Tier] = {}
    for key, value in raw.items():
        kind, _sep, name = key.partition(":")
        if kind == "limit" and name in ENV_NAMES:
            overrides[name] = bool(int(value)) if name == "exempt_moderators" else int(value)
        elif kind == "tier":
            tiers[name] = Tier.from_json(value)
    language = raw.get("option:language")
    # a language this bot no longer speaks (or a value from a newer bot) follows Discord again
    known = language if language in LANGUAGES else None
    return GuildConfig(overrides, tiers, raw.get("option:enhance"), known)


class GuildConfigStore:
    """Reads and writes guild settings in Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys

    async def load(self, guild_id: str) -> GuildConfig:
        raw: dict[str, str] = await self.redis.hgetall(self.keys.guild_config(guild_id))  # type: ignore[assignment]
        return guild_config_from(raw)

    async def set_limits(self, guild_id: str, changes: Mapping[str, int | bool]) -> None:
        """Store admin values (checked first); nothing is stored when one is out of range."""
        checked = {f"limit:{name}": int(check_value(name, value)) for name, value in changes.items()}
        if checked:
            await self.redis.hset(self.keys.guild_config(guild_id), mapping=checked)  # type: ignore[arg-type]

    async def reset_limits(self, guild_id: str) -> None:
        """Forget every limit the admins set: the deployment's defaults apply again."""
        names = [f"limit:{name}" for name in ENV_NAMES]
        await self.redis.hdel(self.keys.guild_config(guild_id), *names)

    async def set_enhance(self, guild_id: str, mode: str | None) -> None:
        """Set the guild's /video enhance default, or forget it (``None``) to use the deployment's."""
        if mode is None:
            await self.redis.hdel(self.keys.guild_config(guild_id), "option:enhance")
        else:
            await self.redis.hset(self.keys.guild_config(guild_id), "option:enhance", mode)

    async def set_language(self, guild_id: str, language: str | None) -> None:
        """Set the guild's language for Reelbot, or forget it (``None``) to follow Discord's server
        language.

        Raises:
            SettingsError: a language Reelbot does not speak; nothing was changed.
        """
        key = self.keys.guild_config(guild_id)
        if language is None:
            await self.redis.hdel(key, "option:language")
            return
        if language not in LANGUAGES:
            raise SettingsError(
                _(
                    "Reelbot does not speak `{language}`; choose one of {languages}.",
                    language=language,
                    languages=", ".join(f"`{code}`" for code in LANGUAGES),
                )
            )
        await self.redis.hset(key, "option:language", language)

    async def set_tier(self, guild_id: str, tier: Tier) -> None:
        await self.redis.hset(self.keys.guild_config(guild_id), f"tier:{tier.role_id}", tier.to_json())

    async def remove_tier(self, guild_id: str, role_id: str) -> bool:
        return bool(await self.redis.hdel(self.keys.guild_config(guild_id), f"tier:{role_id}"))
