"""The content filter's decisions for a guild: prompts, attached images and finished clips, and the
escalation of members the filter keeps refusing.

- **Prompts**: the default word list plus the guild's additions, minus its exceptions
  (:mod:`bot.wordfilter`), and Amazon Bedrock Guardrails on top when configured. The verdict
  is allow, review (a moderator decides, when the guild approves flagged prompts) or block.
- **Images and clips**: the open_nsfw classifier's score against the guild's thresholds, looser
  ones in age-restricted channels (:mod:`inference.safety`). The worker scores frames sampled
  from the clip; the bot decides here, with the guild's settings.
- **Escalation**: every block is a strike. ``COOLDOWN_STRIKES`` within a day pause the member
  for ``COOLDOWN_SECONDS``; ``WATCH_STRIKES`` within a week put every one of their requests
  in front of a moderator until a week after the last strike.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass

from PIL import Image
from redis.asyncio import Redis

from bot.bedrock import BedrockClient, BedrockError
from bot.i18n import _
from bot.modconfig import DEFAULT_BLOCK, DEFAULT_REVIEW, Approval, ModerationConfig, ModerationStore
from bot.screening import ALLOWED, Action, Stage, Verdict
from bot.wordfilter import Severity, WordList
from inference.contract import ClipResult, Keys
from inference.safety import Decision, NsfwClassifier, decide

log = logging.getLogger(__name__)

COOLDOWN_STRIKES, COOLDOWN_WINDOW, COOLDOWN_SECONDS = 3, 24 * 3600, 3600
WATCH_STRIKES, WATCH_WINDOW = 5, 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a member stands with the filter."""

    #: refused until then (unix time), after repeated blocks
    cooldown_until: float | None
    #: every request of theirs goes to a moderator
    watched: bool
    strikes: int


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A Bedrock guardrail to ask about prompts (REELBOT_GUARDRAIL_ID and _VERSION)."""

    client: BedrockClient
    guardrail_id: str
    version: str


class Moderation:
    """Filter decisions, with each guild's settings."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        classifier: NsfwClassifier | None,
        guardrail: Guardrail | None = None,
        words: WordList | None = None,
    ) -> None:
        self.redis, self.keys = redis, keys
        self.settings = ModerationStore(redis, keys)
        self.classifier = classifier
        self.guardrail = guardrail
        self.words = words or WordList.build(DEFAULT_BLOCK, DEFAULT_REVIEW)

    async def config(self, guild_id: str) -> ModerationConfig:
        return await self.settings.load(guild_id)

    # ------------------------------------------------------------------ prompts

    async def __call__(self, text: str, config: ModerationConfig, stage: Stage) -> Verdict:
        """Screen a prompt (a :class:`bot.screening.PromptScreen`) with the guild's settings."""
        # compiled once per content of the guild's lists: this runs on the event loop
        words = self.words.for_guild(config.words_block, config.words_review, config.words_allow)
        match = words.check(text)
        if match is not None and match.severity is Severity.BLOCK:
            return Verdict(
                Action.BLOCK, _("it contains “{word}”, which this server does not allow", word=match.entry)
            )
        blocked = await self._guardrail(text)
        if blocked:
            return Verdict(Action.BLOCK, _("Bedrock Guardrails found {found}", found=", ".join(blocked)))
        if match is not None:
            return Verdict(Action.REVIEW, _("it contains “{word}”", word=match.entry))
        return ALLOWED

    async def _guardrail(self, text: str) -> list[str]:
        if self.guardrail is None:
            return []
        g = self.guardrail
        try:
            return await g.client.apply_guardrail(g.guardrail_id, g.version, text)
        except BedrockError as exc:
            # the word list still applies; a Guardrails outage must not stop every video
            log.warning("Bedrock Guardrails gave no verdict (%s); the word list decides alone", exc)
            return []

    # ----------------------------------------------------------- images, clips

    async def check_image(self, png: bytes, config: ModerationConfig, age_restricted: bool) -> Verdict:
        """The verdict on an attached image (already checked and re-encoded as PNG)."""
        if self.classifier is None:
            return Verdict(Action.REVIEW, _("the image filter is not installed on this bot"))
        classifier = self.classifier

        def score() -> float:
            with Image.open(io.BytesIO(png)) as image:
                return classifier.score_image(image.convert("RGB"))

        value = await asyncio.to_thread(score)
        return _verdict(decide(value, config.thresholds(age_restricted)), value, "image")

    @staticmethod
    def check_clip(clip: ClipResult | None, config: ModerationConfig, age_restricted: bool) -> Verdict:
        """The verdict on a finished clip, from the scores the worker measured."""
        if clip is None or clip.nsfw is None:
            return Verdict(Action.REVIEW, _("the worker did not check this clip (its output filter is off)"))
        value = clip.nsfw.max
        return _verdict(decide(value, config.thresholds(age_restricted)), value, "clip")

    @staticmethod
    def needs_approval(mode: Approval, verdict: Verdict, standing: Standing) -> bool:
        """Whether a moderator must look first, by the guild's mode and what was found."""
        return mode is Approval.EVERY or standing.watched or (mode is Approval.FLAGGED and verdict.flagged)

    @classmethod
    def hold_reason(cls, mode: Approval, verdict: Verdict, standing: Standing, what: str) -> str | None:
        """Why a moderator must look at this ``what`` (request, clip) first, or None when no one must."""
        if not cls.needs_approval(mode, verdict, standing):
            return None
        if verdict.flagged:
            return verdict.reason
        if mode is Approval.EVERY:
            return _("every clip is reviewed here") if what == "clip" else _("every request is reviewed here")
        return _("your requests are reviewed for a while after several were refused")

    # --------------------------------------------------------------- escalation

    async def strike(self, guild_id: str, user_id: str) -> Standing:
        """Count a block against the member; returns their standing after it."""
        now = time.time()
        key = self.keys.filter_strikes(guild_id, user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{now:.6f}": now})
            pipe.zremrangebyscore(key, 0, now - WATCH_WINDOW)
            pipe.expire(key, WATCH_WINDOW)
            await pipe.execute()
        return await self.standing(guild_id, user_id, now)

    async def standing(self, guild_id: str, user_id: str, now: float | None = None) -> Standing:
        now = time.time() if now is None else now
        key = self.keys.filter_strikes(guild_id, user_id)
        rows: list[tuple[str, float]] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            key, now - WATCH_WINDOW, "+inf", withscores=True
        )
        return standing_from([float(score) for _, score in rows], now)


def standing_from(strikes: list[float], now: float) -> Standing:
    """A member's standing from the times of their strikes within ``WATCH_WINDOW``."""
    recent = [t for t in strikes if t > now - COOLDOWN_WINDOW]
    cooldown = None
    if len(recent) >= COOLDOWN_STRIKES and max(recent) + COOLDOWN_SECONDS > now:
        cooldown = max(recent) + COOLDOWN_SECONDS
    return Standing(cooldown, len(strikes) >= WATCH_STRIKES, len(strikes))


def _verdict(decision: Decision, score: float, what: str) -> Verdict:
    clip = what == "clip"  # else the image
    if decision is Decision.BLOCK:
        if clip:
            return Verdict(
                Action.BLOCK, _("the content filter rated the clip explicit ({score:.0%})", score=score)
            )
        return Verdict(
            Action.BLOCK, _("the content filter rated the image explicit ({score:.0%})", score=score)
        )
    if decision is Decision.REVIEW:
        if clip:
            return Verdict(Action.REVIEW, _("the content filter flagged the clip ({score:.0%})", score=score))
        return Verdict(Action.REVIEW, _("the content filter flagged the image ({score:.0%})", score=score))
    return ALLOWED
