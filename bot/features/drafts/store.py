"""Prompt drafts: /video requests waiting for their member to decide on the enhanced prompt.

``/video enhance:review`` shows the member both prompts privately; the request waits in Redis
(``Keys.draft``) until they press Generate or Use original or submit an edit, and expires
after ``DRAFT_SECONDS``. Taking a draft is one GETDEL, so however many times its buttons are
pressed, at most one video is made from it. (A moderator's decision is an *approval*, see
:mod:`bot.features.approvals`; a draft is the member's own.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.requests import VideoRequest
from inference.contract import Keys

#: how long a draft waits for its member
DRAFT_SECONDS = 60 * 60


@dataclass(frozen=True, slots=True)
class Draft:
    """A request held for its member, with the member's words and the enhancer's rewrite."""

    #: the /video interaction's id: the draft's id, and the request id of the video it makes
    draft_id: str
    #: the request as the pipeline had it before enhancing (its image stored, its flags so far)
    request: VideoRequest
    original: str
    enhanced: str
    #: why the enhanced prompt is the member's words ("" when it is a real rewrite)
    note: str = ""
    shortened: bool = False
    #: the enhanced prompt summed up in the member's language ("" for English readers)
    summary: str = ""

    @property
    def guild_id(self) -> str:
        return self.request.guild_id

    @property
    def user_id(self) -> str:
        return self.request.user_id

    @property
    def differs(self) -> bool:
        """Whether there is an enhanced prompt to choose over the original."""
        return self.enhanced != self.original

    def to_json(self) -> str:
        return json.dumps(
            {
                "draft_id": self.draft_id,
                "request": self.request.to_json(),
                "original": self.original,
                "enhanced": self.enhanced,
                "note": self.note,
                "shortened": self.shortened,
                "summary": self.summary,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Draft:
        data = json.loads(text)
        data["request"] = VideoRequest.from_json(data["request"])
        return cls(**data)


class DraftStore:
    """Drafts in Redis, each taken at most once."""

    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int = DRAFT_SECONDS) -> None:
        self.redis, self.keys, self.ttl = redis, keys, ttl_seconds

    async def save(self, draft: Draft) -> None:
        await self.redis.set(self.keys.draft(draft.draft_id), draft.to_json(), ex=self.ttl)

    async def get(self, draft_id: str) -> Draft | None:
        raw: str | None = await self.redis.get(self.keys.draft(draft_id))  # type: ignore[assignment]
        return None if raw is None else Draft.from_json(raw)

    async def take(self, draft_id: str) -> Draft | None:
        """The draft, removed; ``None`` when it expired or was already taken."""
        raw: str | None = await self.redis.getdel(self.keys.draft(draft_id))  # type: ignore[assignment]
        return None if raw is None else Draft.from_json(raw)

    async def put_back(self, draft: Draft) -> None:
        """Return a taken draft (its video could not be queued), so the member can try again."""
        await self.redis.set(self.keys.draft(draft.draft_id), draft.to_json(), ex=self.ttl, nx=True)
