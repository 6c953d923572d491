"""/video requests waiting for their member to review the enhanced prompt.

``/video enhance:review`` shows the member both prompts privately; the request waits in Redis
(``Keys.review``) until they press Generate, Use original or submit an edit, and expires after
``REVIEW_SECONDS``. Taking a review is one GETDEL, so however many times its buttons are
pressed, at most one video is made from it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from inference.contract import Keys

#: how long a review waits for its member (a Discord button stays usable this long too)
REVIEW_SECONDS = 60 * 60


@dataclass(frozen=True, slots=True)
class PendingVideo:
    """Everything needed to queue the video once its member decides."""

    review_id: str
    guild_id: str
    channel_id: str
    user_id: str
    original: str
    enhanced: str
    #: why the enhanced prompt is the member's words ("" when it is a real rewrite)
    note: str = ""
    shortened: bool = False
    negative: str = ""
    seed: int | None = None
    model: str | None = None
    #: the input image, already in storage
    image_ref: str | None = None
    roles: tuple[str, ...] = ()
    moderator: bool = False
    #: what the filter flagged for a moderator, "; "-separated ("" when nothing)
    flags: str = ""

    @property
    def differs(self) -> bool:
        """Whether there is an enhanced prompt to choose over the original."""
        return self.enhanced != self.original

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PendingVideo:
        data = json.loads(text)
        data["roles"] = tuple(data.get("roles", ()))
        return cls(**data)


class ReviewStore:
    """Pending reviews in Redis, each taken at most once."""

    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int = REVIEW_SECONDS) -> None:
        self.redis, self.keys, self.ttl = redis, keys, ttl_seconds

    async def save(self, pending: PendingVideo) -> None:
        await self.redis.set(self.keys.review(pending.review_id), pending.to_json(), ex=self.ttl)

    async def get(self, review_id: str) -> PendingVideo | None:
        raw: str | None = await self.redis.get(self.keys.review(review_id))  # type: ignore[assignment]
        return None if raw is None else PendingVideo.from_json(raw)

    async def take(self, review_id: str) -> PendingVideo | None:
        """The review, removed; ``None`` when it expired or was already taken."""
        raw: str | None = await self.redis.getdel(self.keys.review(review_id))  # type: ignore[assignment]
        return None if raw is None else PendingVideo.from_json(raw)

    async def put_back(self, pending: PendingVideo) -> None:
        """Return a taken review (its video could not be queued), so the member can try again."""
        await self.redis.set(self.keys.review(pending.review_id), pending.to_json(), ex=self.ttl, nx=True)
