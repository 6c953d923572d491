"""A guild's moderation settings (set with /settings moderation, words and channels), and the default
word list every guild starts from.

The settings live in the guild's settings hash (``Keys.guild_config``), one field per value an
admin set (``mod:<name>``, JSON), so unset values follow the deployment's defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from bot.guildconfig import SettingsError
from bot.i18n import _
from inference.contract import Keys
from inference.safety import AGE_RESTRICTED, Thresholds


class Approval(StrEnum):
    """When a moderator must approve: never, only what the filter flagged, or everything."""

    OFF = "off"
    FLAGGED = "flagged"
    EVERY = "every"


#: refused in every guild unless its admins add an exception; matched as whole words after
#: normalisation (see bot/wordfilter.py). Sexual content involving minors, and explicit sex.
DEFAULT_BLOCK = (
    "child porn*",
    "cp porn",
    "csam",
    "loli",
    "lolicon",
    "shota",
    "shotacon",
    "underage sex",
    "preteen sex",
    "porn*",
    "hentai",
    "xxx",
    "nsfw",
    "blowjob",
    "blow job",
    "handjob",
    "hand job",
    "cumshot",
    "cum shot",
    "creampie",
    "gangbang",
    "masturbat*",
    "genitals",
    "penis",
    "vagina",
    "rape",
    "raping",
    "beheading",
    "decapitat*",
)
#: sent to moderators when a guild approves flagged prompts; refused where approval is off
DEFAULT_REVIEW = (
    "nude",
    "nudes",
    "naked",
    "topless",
    "nipples",
    "sex",
    "sexy",
    "erotic*",
    "lingerie",
    "gore",
    "gory",
    "dismember*",
    "corpse",
    "suicide",
    "self harm",
)

#: the content filter's default thresholds (probability that an image is explicit)
ORDINARY = Thresholds(review=0.5, block=0.85)


@dataclass(frozen=True, slots=True)
class ModerationConfig:
    """What a guild's admins set for moderation (``None``/empty: the default)."""

    #: where reviews are posted, and where decisions are logged (channel ids)
    review_channel: str | None = None
    log_channel: str | None = None
    #: members with this role may decide reviews (besides Manage Messages)
    moderator_role: str | None = None
    before_generation: Approval = Approval.FLAGGED
    before_posting: Approval = Approval.FLAGGED
    #: image and clip thresholds, in ordinary and in age-restricted channels
    review_at: float = ORDINARY.review
    block_at: float = ORDINARY.block
    adult_review_at: float = AGE_RESTRICTED.review
    adult_block_at: float = AGE_RESTRICTED.block
    #: the guild's own word list entries and exception phrases
    words_block: tuple[str, ...] = ()
    words_review: tuple[str, ...] = ()
    words_allow: tuple[str, ...] = ()
    #: /video works only in these channels (empty: everywhere the bot can post)
    channels: tuple[str, ...] = ()

    def thresholds(self, age_restricted: bool) -> Thresholds:
        """The image and clip thresholds for a channel."""
        if age_restricted:
            return Thresholds(self.adult_review_at, self.adult_block_at)
        return Thresholds(self.review_at, self.block_at)

    def check(self) -> ModerationConfig:
        """Raises SettingsError when the thresholds are out of order; returns self."""
        ordinary, adult = (self.review_at, self.block_at), (self.adult_review_at, self.adult_block_at)
        try:
            Thresholds(*ordinary)
        except ValueError as exc:
            raise SettingsError(_threshold_problem(*ordinary, exc, adult=False)) from None
        try:
            Thresholds(*adult)
        except ValueError as exc:
            raise SettingsError(_threshold_problem(*adult, exc, adult=True)) from None
        return self


def _threshold_problem(review: float, block: float, exc: ValueError, *, adult: bool) -> str:
    """What is wrong with a pair of thresholds, for the admin who set them."""
    if review > block:  # the one mistake /settings moderation allows (its options are 0 to 100)
        if adult:
            return _(
                "Thresholds for age-restricted channels: the review threshold ({review:g}) is above "
                "the block threshold ({block:g}): set review at or below block (review = block sends "
                "nothing to moderators)",
                review=review,
                block=block,
            )
        return _(
            "Thresholds for ordinary channels: the review threshold ({review:g}) is above the block "
            "threshold ({block:g}): set review at or below block (review = block sends nothing to "
            "moderators)",
            review=review,
            block=block,
        )
    if adult:
        return _("Thresholds for age-restricted channels: {problem}", problem=exc)
    return _("Thresholds for ordinary channels: {problem}", problem=exc)


_TUPLES = {"words_block", "words_review", "words_allow", "channels"}
_NAMES = {f.name for f in fields(ModerationConfig)}


class ModerationStore:
    """Reads and changes a guild's moderation settings."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys

    async def load(self, guild_id: str) -> ModerationConfig:
        raw: dict[str, str] = await self.redis.hgetall(self.keys.guild_config(guild_id))  # type: ignore[assignment]
        return config_from(raw)

    async def change(self, guild_id: str, changes: Mapping[str, Any]) -> ModerationConfig:
        """Set some values (checked together, all or none); ``None`` forgets a value."""
        current = await self.load(guild_id)
        updated = replace(current, **{k: _typed(k, v) for k, v in changes.items()}).check()
        key = self.keys.guild_config(guild_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for name, value in changes.items():
                if value is None:
                    pipe.hdel(key, f"mod:{name}")
                else:
                    pipe.hset(key, f"mod:{name}", json.dumps(_plain(getattr(updated, name))))
            await pipe.execute()
        return updated


def config_from(raw: Mapping[str, str]) -> ModerationConfig:
    """The settings in a guild's settings hash."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        kind, _sep, name = key.partition(":")
        if kind == "mod" and name in _NAMES:
            values[name] = _typed(name, json.loads(value))
    return ModerationConfig(**values)


def _typed(name: str, value: Any) -> Any:
    if value is None:
        return getattr(ModerationConfig(), name)
    if name in _TUPLES:
        return tuple(str(v) for v in value)
    if name in ("before_generation", "before_posting"):
        return Approval(value)
    if name.endswith("_at"):
        return float(value)
    return str(value)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else str(value) if isinstance(value, StrEnum) else value
