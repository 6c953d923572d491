"""Where prompts are screened before they reach the queue: the member's words and the enhanced text.

A screen looks at one text with one guild's settings and says whether it may go on, with the reason
when not. The bot screens twice: the member's own prompt (or their edit of an enhanced one),
and again the enhanced prompt, because a model's output is untrusted text too. The bot's
screen is :class:`bot.moderation.Moderation` (the word list, and Bedrock Guardrails when
configured); a screen that passes everything (:func:`allow_all`) is for tests of other parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.modconfig import ModerationConfig


class Stage(StrEnum):
    """Which text is being screened."""

    #: the member's own words (a /video prompt, a Remix, an edited enhancement)
    MEMBER = "member"
    #: what the enhancer wrote
    ENHANCED = "enhanced"


class Action(StrEnum):
    """What happens to a text: it goes on, a moderator looks first, or it is refused."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happens to a text, and why (for the member and the moderators)."""

    action: Action
    reason: str = ""

    @property
    def allowed(self) -> bool:
        """Whether it may go on (possibly after a moderator's approval)."""
        return self.action is not Action.BLOCK

    @property
    def flagged(self) -> bool:
        return self.action is Action.REVIEW


ALLOWED = Verdict(Action.ALLOW)


class PromptScreen(Protocol):
    """Anything that can judge a prompt with a guild's moderation settings."""

    async def __call__(self, text: str, config: ModerationConfig, stage: Stage) -> Verdict: ...


async def allow_all(text: str, config: ModerationConfig, stage: Stage) -> Verdict:
    """The screen when none is configured: every text passes."""
    return ALLOWED
