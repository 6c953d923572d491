"""Where prompts are screened before they reach the queue: the member's words and the enhanced text.

A screen looks at one text for one guild and says whether it may go on, with the reason
when not. The bot screens twice: the member's own prompt (or their edit of an enhanced one),
and again the enhanced prompt, because a model's output is untrusted text too. The word
list and Bedrock Guardrails screens plug in here (docs/BOT.md); with none configured every
prompt passes, as before screening existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Stage(StrEnum):
    """Which text is being screened."""

    #: the member's own words (a /video prompt, a Remix, an edited enhancement)
    MEMBER = "member"
    #: what the enhancer wrote
    ENHANCED = "enhanced"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a text may go on, and why not."""

    allowed: bool
    reason: str = ""


ALLOWED = Verdict(True)


class PromptScreen(Protocol):
    """Anything that can judge a prompt for a guild."""

    async def __call__(self, text: str, guild_id: str, stage: Stage) -> Verdict: ...


async def allow_all(text: str, guild_id: str, stage: Stage) -> Verdict:
    """The screen when none is configured: every text passes."""
    return ALLOWED
