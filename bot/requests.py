"""A request for a video, whichever way it came in, and what the pipeline made of it.

Every entry point (``/video``, Re-roll, Remix, a prompt draft's buttons, a moderator's Approve,
an approved appeal) builds one :class:`VideoRequest` and hands it to
:class:`bot.pipeline.RequestPipeline`. A request that has to wait (for its member to decide
on a prompt draft, or for a moderator) is kept as JSON and handed back to the pipeline when
the wait ends: :meth:`VideoRequest.to_json` and :meth:`VideoRequest.from_json` are the one
conversion each way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.attachments import AttachmentInfo

if TYPE_CHECKING:
    from bot.enhance import Enhancement
    from inference.contract import JobRecord
    from inference.jobqueue import Position


class Origin(StrEnum):
    """Which entry point a request came through."""

    #: ``/video``
    VIDEO = "video"
    #: the Re-roll button under a clip: the same prompt with a new seed
    REROLL = "reroll"
    #: the Remix form under a clip: an edited prompt
    REMIX = "remix"
    #: the member decided on their prompt draft (Generate, Use original, or an edit)
    DRAFT = "draft"
    #: a moderator approved a held request
    APPROVAL = "approval"
    #: a moderator approved a member's appeal of a refusal
    APPEAL = "appeal"
    #: the Extend form under a clip: a continuation from its last frame
    EXTEND = "extend"


@dataclass(frozen=True, slots=True)
class Member:
    """Someone acting in a guild, as Discord described them at the moment of the interaction."""

    guild_id: str
    user_id: str
    role_ids: tuple[str, ...] = ()
    #: Manage Messages (or Administrator) in the channel: one half of being a moderator
    manages_messages: bool = False
    #: Manage Server (or Administrator)
    manages_server: bool = False


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """Everything the pipeline needs to queue one video for one member."""

    #: the interaction that asked (a request is queued at most once per id)
    request_id: str
    origin: Origin
    #: who the video is for (the presser of Re-roll, not the clip's first requester)
    member: Member
    channel_id: str
    #: the text the model renders
    prompt: str
    #: the member's own words when ``prompt`` is not (an enhancement, or their edit of one)
    original_prompt: str | None = None
    #: ``prompt`` is the enhancer's rewrite, not anyone's own writing
    rewritten: bool = False
    #: ``prompt`` is the member's words translated into English from this language (see
    #: bot/translation.py); their words are ``original_prompt``
    translated_from: str | None = None
    negative: str = ""
    seed: int | None = None
    #: ``/video smooth:``: the frame rate to smooth the clip to (0: not smoothed; None: the
    #: worker's setting)
    fps: int | None = None
    #: ``/video length:``: in standard clips of the model (2: a 10 s CogVideoX 1.5 clip); None: 1
    length: int | None = None
    #: ``/video shape:``: landscape, portrait, square or image (keep the image's); None: the model's
    shape: str | None = None
    #: ``/video takes:``: how many clips of this request to render, each with its own seed
    takes: int = 1
    #: Extend: the job whose clip this one continues, and that clip's storage reference
    extend_of: str | None = None
    extend_ref: str | None = None
    #: the model asked for (None: the best one running)
    model: str | None = None
    #: ``/video enhance:`` as the member chose it (None: the guild's default)
    enhance: str | None = None
    #: an attachment still to download and check
    attachment: AttachmentInfo | None = None
    #: an input image already checked and stored
    image_ref: str | None = None
    #: the channel is age-restricted (looser image thresholds)
    age_restricted: bool = False
    #: what the filter flagged on an earlier pass (a re-run carries its original's flags)
    flags: tuple[str, ...] = ()
    #: the words are the member's own (not a Re-roll of someone else's clip), so a refusal
    #: counts against them and can be appealed
    authored: bool = True
    #: the moderator who approved exactly this request (it skips the filter and holds)
    approved_by: str | None = None
    #: the job's id, when it was chosen before queueing (a held request)
    job_id: str | None = None
    #: the job a Re-roll or Remix started from
    source_job: str | None = None
    #: permissions the bot lacks in the channel (it cannot post there)
    missing_permissions: tuple[str, ...] = ()
    #: the prompt is settled (a decided draft, a Re-roll, a Remix): never enhance it again
    settled: bool = False

    @property
    def guild_id(self) -> str:
        return self.member.guild_id

    @property
    def user_id(self) -> str:
        return self.member.user_id

    @property
    def with_image(self) -> bool:
        """The video starts from an image: an attachment, a stored one, or a clip's last frame."""
        return self.attachment is not None or self.image_ref is not None or self.extend_ref is not None

    @property
    def units(self) -> int:
        """How many clips one take counts as in the member's limits (a 10 s clip is two)."""
        return self.length or 1

    def flagged(self, *reasons: str) -> VideoRequest:
        """This request with ``reasons`` added to its flags (each once, in order)."""
        merged = tuple(dict.fromkeys((*self.flags, *(r for r in reasons if r))))
        return replace(self, flags=merged)

    @property
    def member_texts(self) -> tuple[str, ...]:
        """The texts the member wrote, to screen as theirs."""
        texts = [self.original_prompt or "", "" if self.rewritten else self.prompt]
        return tuple(dict.fromkeys(t for t in texts if t.strip()))

    def to_json(self) -> str:
        """The request as JSON, to keep while it waits (its image must be stored by then)."""
        if self.attachment is not None:
            raise ValueError("store the attachment before keeping the request")
        data = asdict(self)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> VideoRequest:
        data = json.loads(text)
        member = data.pop("member")
        member["role_ids"] = tuple(member.get("role_ids", ()))
        data["member"] = Member(**member)
        data["origin"] = Origin(data["origin"])
        data["flags"] = tuple(data.get("flags", ()))
        data["missing_permissions"] = tuple(data.get("missing_permissions", ()))
        data["attachment"] = None
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Queued:
    """The job is in the queue."""

    request: VideoRequest
    job: JobRecord
    position: Position | None
    #: the same interaction arrived twice: this is the job the first one made
    replayed: bool = False
    enhancement: Enhancement | None = None
    #: the part of the attached image the video shows
    preview: bytes | None = None
    #: every take's job, ``job`` first (one job unless the member asked for takes)
    takes: tuple[JobRecord, ...] = ()

    @property
    def jobs(self) -> tuple[JobRecord, ...]:
        return self.takes or (self.job,)


@dataclass(frozen=True, slots=True)
class Held:
    """The request waits for a moderator; nothing renders before one approves it."""

    request: VideoRequest
    job_id: str
    reasons: str
    enhancement: Enhancement | None = None


@dataclass(frozen=True, slots=True)
class Drafted:
    """The member asked to see the enhanced prompt first: the request waits for their choice."""

    request: VideoRequest
    enhancement: Enhancement
    draft_id: str
    preview: bytes | None = None


Outcome = Queued | Held | Drafted
