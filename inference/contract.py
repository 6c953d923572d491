"""The job contract shared by the bot and the inference workers.

Standard library only: the bot imports this module without pulling in torch, and the
worker imports it without pulling in discord. It is the single source of truth for

* the generation spec (what to render) and the job record (versioned JSON, never pickle);
* the job status enum, its allowed transitions and which actor may set each status;
* the events published on the job stream;
* every shared Redis key, under a versioned prefix.

A record or event written by a different contract version, or one that is malformed,
raises :class:`ContractError`; readers never crash on it. The readers are total: whatever
Redis hands back (bytes that are not UTF-8, JSON nested past the recursion limit, numbers
JSON cannot carry, ids with a trailing newline), they return a valid object or raise
ContractError, and nothing else (tests/test_contract_readers.py feeds them mutations).
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, ParamSpec, TypeVar

CONTRACT_VERSION: Final = 1

MAX_PROMPT_CHARS: Final = 2000
# always matched with fullmatch: ``match`` with ``$`` would let a trailing newline through
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_JOB_ID = re.compile(r"[0-9a-z]{6,32}")
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MODEL_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

_P = ParamSpec("_P")
_R = TypeVar("_R")


class ContractError(ValueError):
    """A record, spec or event does not follow this contract version."""


def _reader(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Make a reader total: the errors Python raises on odd input become ContractError.

    The readers check what they read field by field, with messages that say what is wrong;
    this is the net under those checks for input nobody thought of, so that a delivery loop
    sets a bad entry aside instead of stopping on it.
    """

    def wrap(read: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(read)
        def total(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return read(*args, **kwargs)
            except ContractError:
                raise
            except RecursionError:
                raise ContractError(f"{what} is nested too deeply to read") from None
            except (TypeError, ValueError, OverflowError, KeyError) as exc:
                raise ContractError(f"{what} is malformed: {exc!r}") from exc

        return total

    return wrap


# --------------------------------------------------------------------------- models


class ModelId(enum.StrEnum):
    """The models Reelbot serves (CogVideoX, and Wan 2.2); each is also the name of a queue lane."""

    COGVIDEOX_2B = "cogvideox-2b"
    COGVIDEOX_5B = "cogvideox-5b"
    COGVIDEOX_5B_I2V = "cogvideox-5b-i2v"
    COGVIDEOX15_5B = "cogvideox1.5-5b"
    COGVIDEOX15_5B_I2V = "cogvideox1.5-5b-i2v"
    #: Wan 2.2's 5B model: text to video, and image to video when an image comes along
    WAN22_TI2V_5B = "wan2.2-ti2v-5b"

    @property
    def image_to_video(self) -> bool:
        """Whether the model only animates an input image (and needs one)."""
        return self.value.endswith("-i2v")

    @property
    def takes_image(self) -> bool:
        """Whether the model can start from an input image (image-to-video models, and Wan 2.2's
        text-and-image-to-video model, which also renders from text alone)."""
        return self.image_to_video or self.value.endswith("-ti2v-5b")

    @property
    def family(self) -> str:
        """The model family: "cogvideox" or "wan"."""
        return "wan" if self.value.startswith("wan") else "cogvideox"


DEFAULT_MODEL: Final = ModelId.COGVIDEOX_2B


# ------------------------------------------------------------------------- statuses


class JobStatus(enum.StrEnum):
    """Where a job is in its life. Terminal statuses never change again."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


class Actor(enum.StrEnum):
    """Who changes a job's status."""

    BOT = "bot"  # the Discord side: enqueue, cancel
    WORKER = "worker"  # the lease holder: claim, finish, hand back
    REAPER = "reaper"  # any process that reclaims expired leases (workers and the bot)


_TERMINAL: Final = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Allowed transitions: ``(from, to) -> actors that may make it``. Enqueue creates a job
#: in QUEUED (actor BOT); there is no transition out of a terminal status.
TRANSITIONS: Final[Mapping[tuple[JobStatus, JobStatus], frozenset[Actor]]] = {
    (JobStatus.QUEUED, JobStatus.RUNNING): frozenset({Actor.WORKER}),
    (JobStatus.QUEUED, JobStatus.CANCELLED): frozenset({Actor.BOT}),
    # a lease that expired goes back to the queue; a stopping worker hands its job back
    (JobStatus.RUNNING, JobStatus.QUEUED): frozenset({Actor.REAPER, Actor.WORKER}),
    (JobStatus.RUNNING, JobStatus.SUCCEEDED): frozenset({Actor.WORKER}),
    # the worker fails a job it cannot render; the reaper fails it after its last attempt
    (JobStatus.RUNNING, JobStatus.FAILED): frozenset({Actor.WORKER, Actor.REAPER}),
    # the worker stops at the next step after the bot set the cancel flag; the reaper
    # ends a cancel-requested job whose worker died
    (JobStatus.RUNNING, JobStatus.CANCELLED): frozenset({Actor.WORKER, Actor.REAPER}),
}


def check_transition(old: JobStatus, new: JobStatus, actor: Actor) -> None:
    """Raise :class:`ContractError` unless ``actor`` may move a job from ``old`` to ``new``."""
    allowed = TRANSITIONS.get((old, new))
    if allowed is None:
        raise ContractError(f"a job cannot go from {old} to {new}")
    if actor not in allowed:
        raise ContractError(f"{actor} may not move a job from {old} to {new}")


# ---------------------------------------------------------------------------- specs


#: the frame rates a clip can be smoothed to (inference/interpolate.py)
SMOOTH_FPS = (16, 24)
#: a clip's length in multiples of its model's standard clip (CogVideoX 1.5: 5 s or 10 s)
LENGTHS = (1, 2)
#: frame shapes a model may offer; "image" keeps the input image's shape (inference/recipes.py)
SHAPES = ("landscape", "portrait", "square", "image")


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    """What to render. The worker fills model defaults for the fields left as ``None``."""

    prompt: str
    model: ModelId = DEFAULT_MODEL
    negative_prompt: str = ""
    seed: int | None = None
    #: storage reference of the input image (image-to-video), set by the bot
    image_ref: str | None = None
    #: the member's own words when ``prompt`` was enhanced
    original_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    #: the frame rate to smooth the clip to (16 or 24, by motion interpolation); 0: not smoothed;
    #: None: the worker's REELBOT_SMOOTH_FPS
    fps: int | None = None
    #: the clip's length in standard clips of the model (see LENGTHS); None: one
    length: int | None = None
    #: the frame's shape (see SHAPES); None: the model's default
    shape: str | None = None
    #: storage reference of the clip this job continues (Extend): its last frame is the
    #: input image and the posted clip is the two joined
    extend_ref: str | None = None

    @property
    def units(self) -> int:
        """How many clips this one counts as in a member's limits (a 10 s clip is two)."""
        return self.length or 1

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ContractError("the prompt is empty: describe the video you want")
        for name in ("prompt", "negative_prompt", "original_prompt"):
            text = getattr(self, name)
            if text is not None and len(text) > MAX_PROMPT_CHARS:
                raise ContractError(
                    f"the {name.replace('_', ' ')} has {len(text)} characters; "
                    f"keep it under {MAX_PROMPT_CHARS}"
                )
        if self.model.image_to_video and not (self.image_ref or self.extend_ref):
            raise ContractError(f"{self.model} animates an image: attach one, or pick a text model")
        if (self.image_ref or self.extend_ref) and not self.model.takes_image:
            raise ContractError(f"{self.model} does not take an image: pick an image-to-video model")
        if self.image_ref and self.extend_ref:
            raise ContractError("an extended clip starts from its own last frame: attach no image")
        if self.length is not None and self.length not in LENGTHS:
            raise ContractError(
                f"a clip can be {' or '.join(map(str, LENGTHS))} standard lengths, not {self.length}"
            )
        if self.shape is not None and self.shape not in SHAPES:
            raise ContractError(f"unknown shape {self.shape!r}; use one of {', '.join(SHAPES)}")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise ContractError(f"seed {self.seed} is out of range: use 0 to {2**32 - 1}")
        if self.steps is not None and not 1 <= self.steps <= 200:
            raise ContractError(f"steps {self.steps} is out of range: use 1 to 200")
        if self.guidance is not None and not 0.0 <= self.guidance <= 50.0:
            raise ContractError(f"guidance {self.guidance} is out of range: use 0 to 50")
        if self.fps is not None and self.fps not in (0, *SMOOTH_FPS):
            rates = " or ".join(map(str, SMOOTH_FPS))
            raise ContractError(f"a clip can be smoothed to {rates} fps, not {self.fps}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "model": self.model.value,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "image_ref": self.image_ref,
            "original_prompt": self.original_prompt,
            "steps": self.steps,
            "guidance": self.guidance,
            # only when asked for: a worker from before smoothing refuses fields it does not know
            **({"fps": self.fps} if self.fps is not None else {}),
            **{k: v for k, v in self._newer_fields().items() if v is not None},
        }

    def _newer_fields(self) -> dict[str, Any]:
        """Fields a worker from before them would refuse: written only when set."""
        return {"length": self.length, "shape": self.shape, "extend_ref": self.extend_ref}

    @classmethod
    @_reader("the generation spec")
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationSpec:
        """Build a spec from its JSON object; unknown or mistyped fields raise ContractError."""
        if not isinstance(data, Mapping):
            raise ContractError("the generation spec must be a JSON object")
        _no_unknown(data, cls, "generation spec")
        try:
            model = ModelId(data.get("model", DEFAULT_MODEL))
        except ValueError:
            known = ", ".join(m.value for m in ModelId)
            raise ContractError(f"unknown model {data.get('model')!r}; use one of {known}") from None
        return cls(
            prompt=_typed(data, "prompt", str),
            model=model,
            negative_prompt=_typed(data, "negative_prompt", str, ""),
            seed=_typed(data, "seed", int, None),
            image_ref=_typed(data, "image_ref", str, None),
            original_prompt=_typed(data, "original_prompt", str, None),
            steps=_typed(data, "steps", int, None),
            guidance=_float(data, "guidance"),
            fps=_typed(data, "fps", int, None),
            length=_typed(data, "length", int, None),
            shape=_typed(data, "shape", str, None),
            extend_ref=_typed(data, "extend_ref", str, None),
        )


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class FilterScores:
    """The output filter's scores of the frames sampled from a clip (the worker measures, the
    bot judges them with each guild's thresholds)."""

    #: the highest frame score: one explicit frame makes the clip explicit
    max: float
    mean: float
    #: the indices of the frames scored, ascending, and one score per index
    frames: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    #: the time the filter took
    seconds: float = 0.0

    def __post_init__(self) -> None:
        for value in (self.max, self.mean, *self.scores):
            if not 0.0 <= value <= 1.0:
                raise ContractError(f"a filter score must be between 0 and 1, not {value}")
        if len(self.frames) != len(self.scores):
            raise ContractError("the filter scores need one score per frame scored")

    def to_dict(self) -> dict[str, Any]:
        return {
            "max": self.max,
            "mean": self.mean,
            "frames": list(self.frames),
            "scores": list(self.scores),
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    @_reader("the filter scores")
    def from_dict(cls, data: Any) -> FilterScores:
        if not isinstance(data, Mapping):
            raise ContractError("the filter scores must be a JSON object")
        _no_unknown(data, cls, "filter score")
        frames, scores = data.get("frames", []), data.get("scores", [])
        if not isinstance(frames, list) or not isinstance(scores, list):
            raise ContractError("the filter's frames and scores must be lists")
        if not all(type(f) is int for f in frames):
            raise ContractError("the filter's frames must be frame numbers (integers)")
        return cls(
            max=_number(data, "max"),
            mean=_number(data, "mean"),
            frames=tuple(frames),
            scores=tuple(_number({"score": s}, "score") for s in scores),
            seconds=_float(data, "seconds", 0.0),
        )


@dataclass(frozen=True, slots=True)
class ClipResult:
    """What a worker made of a succeeded job: the stored clip and how it was rendered.

    Stored in the job record's ``result`` as JSON (the keys are the field names, except
    ``size``, stored as ``bytes``). The bot reads it through :meth:`JobRecord.clip`.
    """

    #: the clip's storage reference, and a presigned link when the storage has links
    clip_ref: str
    clip_url: str | None
    #: the MP4's size in bytes
    size: int
    model: str
    frames: int
    fps: float
    width: int
    height: int
    seed: int
    steps: int
    guidance: float
    #: the prompt the model read (after the worker's own token check)
    prompt: str
    prompt_shortened: bool = False
    render_seconds: float = 0.0
    encode_seconds: float = 0.0
    content_type: str = "video/mp4"
    #: the output filter's scores (None: the worker's filter is off)
    nsfw: FilterScores | None = None

    def __post_init__(self) -> None:
        if not self.clip_ref:
            raise ContractError("a clip result needs the clip's storage reference")
        if self.size < 0 or self.frames < 1 or self.width < 1 or self.height < 1 or self.fps <= 0:
            raise ContractError(
                f"clip result out of range: {self.size} bytes, {self.frames} frames "
                f"{self.width}x{self.height} at {self.fps} fps"
            )

    @property
    def duration(self) -> float:
        """The clip's length in seconds."""
        return self.frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "clip_ref": self.clip_ref,
            "clip_url": self.clip_url,
            "content_type": self.content_type,
            "bytes": self.size,
            "model": self.model,
            "frames": self.frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "prompt": self.prompt,
            "prompt_shortened": self.prompt_shortened,
            "render_seconds": self.render_seconds,
            "encode_seconds": self.encode_seconds,
        }
        if self.nsfw is not None:
            data["nsfw"] = self.nsfw.to_dict()
        return data

    @classmethod
    @_reader("the clip result")
    def from_dict(cls, data: Any) -> ClipResult:
        """Read a result's JSON object; a missing, unknown or mistyped field raises ContractError."""
        if not isinstance(data, Mapping):
            raise ContractError("a clip result must be a JSON object")
        unknown = set(data) - _RESULT_KEYS
        if unknown:
            raise ContractError(f"unknown clip result fields: {sorted(unknown, key=repr)}")
        nsfw = data.get("nsfw")
        return cls(
            clip_ref=_typed(data, "clip_ref", str),
            clip_url=_typed(data, "clip_url", str, None),
            size=_typed(data, "bytes", int),
            model=_typed(data, "model", str),
            frames=_typed(data, "frames", int),
            fps=_number(data, "fps"),
            width=_typed(data, "width", int),
            height=_typed(data, "height", int),
            seed=_typed(data, "seed", int),
            steps=_typed(data, "steps", int),
            guidance=_number(data, "guidance"),
            prompt=_typed(data, "prompt", str),
            prompt_shortened=_typed(data, "prompt_shortened", bool, False),
            render_seconds=_float(data, "render_seconds", 0.0),
            encode_seconds=_float(data, "encode_seconds", 0.0),
            content_type=_typed(data, "content_type", str, "video/mp4"),
            nsfw=None if nsfw is None else FilterScores.from_dict(nsfw),
        )


_RESULT_KEYS: Final = (frozenset(ClipResult.__dataclass_fields__) - {"size"}) | {"bytes"}


# --------------------------------------------------------------------------- record


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job, as stored in Redis and carried between the bot and the workers.

    Discord ids are strings (snowflakes do not fit a JSON double). Times are Unix
    seconds as floats, taken from the Redis server's clock so that every process agrees.
    """

    id: str
    request_id: str
    guild_id: str
    channel_id: str
    user_id: str
    spec: GenerationSpec
    status: JobStatus = JobStatus.QUEUED
    #: fair-share weight inside the guild: a job of weight 2 costs its member half a turn
    #: (set by role tiers); every guild's turns cost the same whatever its jobs' weights
    weight: float = 1.0
    attempts: int = 0
    max_attempts: int = 3
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    cancel_requested: bool = False
    error: str | None = None
    result: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        if not _JOB_ID.fullmatch(self.id):
            raise ContractError(f"job id {self.id!r} is not 6-32 lowercase letters and digits")
        for name in ("guild_id", "channel_id", "user_id"):
            if not _SNOWFLAKE.fullmatch(getattr(self, name)):
                raise ContractError(f"{name} {getattr(self, name)!r} is not a Discord id")
        if not self.request_id or len(self.request_id) > 100:
            raise ContractError("request_id must be 1-100 characters")
        if not 0.05 <= self.weight <= 100:
            raise ContractError(f"weight {self.weight} is out of range: use 0.05 to 100")
        if not 1 <= self.max_attempts <= 20:
            raise ContractError(f"max_attempts {self.max_attempts} is out of range: use 1 to 20")
        if self.attempts < 0:
            raise ContractError(f"attempts {self.attempts} is negative")

    @property
    def lane(self) -> ModelId:
        return self.spec.model

    def clip(self) -> ClipResult | None:
        """The typed result of a succeeded job (None before it succeeded).

        The queue stores results as JSON objects it does not look into; this is where the
        bot reads one.

        Raises:
            ContractError: the stored result is not a clip result of this contract version.
        """
        return None if self.result is None else ClipResult.from_dict(self.result)

    def with_status(self, status: JobStatus, actor: Actor, **changes: Any) -> JobRecord:
        """A copy moved to ``status``, after checking the transition is allowed."""
        check_transition(self.status, status, actor)
        return replace(self, status=status, **changes)

    # JSON: the record's canonical, versioned form (golden-file tested)
    def to_dict(self) -> dict[str, Any]:
        return {
            "v": CONTRACT_VERSION,
            "id": self.id,
            "request_id": self.request_id,
            "guild_id": self.guild_id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "spec": self.spec.to_dict(),
            "status": str(self.status),
            "weight": self.weight,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker_id": self.worker_id,
            "cancel_requested": self.cancel_requested,
            "error": self.error,
            "result": self.result,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    @_reader("the job record")
    def from_json(cls, text: str | bytes) -> JobRecord:
        """Read a record's canonical JSON (text, or bytes in a JSON encoding)."""
        try:
            data = json.loads(text)
        except ValueError as exc:  # UnicodeDecodeError included
            raise ContractError(f"job record is not valid JSON: {exc}") from exc
        except RecursionError:
            raise ContractError("job record is not valid JSON: it is nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    @_reader("the job record")
    def from_dict(cls, data: Any) -> JobRecord:
        if not isinstance(data, dict):
            raise ContractError("a job record must be a JSON object")
        _check_version(data.get("v"), "job record")
        unknown = set(data) - _RECORD_FIELDS - {"v"}
        if unknown:
            raise ContractError(f"unknown job record fields: {sorted(unknown, key=repr)}")
        try:
            status = JobStatus(_typed(data, "status", str, "none"))
        except ValueError:
            raise ContractError(f"unknown job status {data.get('status')!r}") from None
        result = data.get("result")
        if result is not None:
            _check_result(result)
        return cls(
            id=_typed(data, "id", str),
            request_id=_typed(data, "request_id", str),
            guild_id=_typed(data, "guild_id", str),
            channel_id=_typed(data, "channel_id", str),
            user_id=_typed(data, "user_id", str),
            spec=GenerationSpec.from_dict(data.get("spec")),  # type: ignore[arg-type]  # checked inside
            status=status,
            weight=_float(data, "weight", 1.0),
            attempts=_typed(data, "attempts", int, 0),
            max_attempts=_typed(data, "max_attempts", int, 3),
            created_at=_float(data, "created_at", 0.0),
            updated_at=_float(data, "updated_at", 0.0),
            started_at=_float(data, "started_at"),
            finished_at=_float(data, "finished_at"),
            worker_id=_typed(data, "worker_id", str, None),
            cancel_requested=_typed(data, "cancel_requested", bool, False),
            error=_typed(data, "error", str, None),
            result=result,
        )

    # Redis hash: a flat projection of the JSON form so Lua can change single fields
    def to_fields(self) -> dict[str, str]:
        """The record as Redis hash fields (absent optional values are left out)."""
        out: dict[str, str] = {}
        for key, value in self.to_dict().items():
            if value is None:
                continue
            if isinstance(value, dict):
                out[key] = json.dumps(value, sort_keys=True, separators=(",", ":"))
            elif isinstance(value, bool):
                out[key] = "1" if value else "0"
            else:
                out[key] = str(value)
        return out

    @classmethod
    @_reader("the job record")
    def from_fields(cls, fields: Mapping[Any, Any]) -> JobRecord:
        """Rebuild a record from its Redis hash (str or bytes); raises ContractError when malformed."""
        raw = _texts(fields, "job record")
        if not raw:
            raise ContractError("job record is empty")
        data: dict[str, Any] = {}
        try:
            for key, value in raw.items():
                if key in {"spec", "result"}:
                    data[key] = json.loads(value)
                elif key in _INT_FIELDS:
                    data[key] = int(value)
                elif key in _FLOAT_FIELDS:
                    data[key] = _finite(key, float(value))
                elif key in _BOOL_FIELDS:
                    if value not in ("0", "1"):
                        raise ContractError(f"job record field {key!r} is {value!r}, not 0 or 1")
                    data[key] = value == "1"
                elif key in _RECORD_FIELDS or key == "v":
                    data[key] = value
                # other hash fields (lease, seq, ...) belong to the queue, not the record
        except ContractError:
            raise
        except ValueError as exc:
            raise ContractError(f"job record field is malformed: {exc}") from exc
        except RecursionError:
            raise ContractError("job record field is malformed: JSON nested too deeply") from None
        return cls.from_dict(data)


_RECORD_FIELDS: Final = frozenset(JobRecord.__dataclass_fields__)
_INT_FIELDS: Final = frozenset({"v", "attempts", "max_attempts"})
_FLOAT_FIELDS: Final = frozenset({"weight", "created_at", "updated_at", "started_at", "finished_at"})
_BOOL_FIELDS: Final = frozenset({"cancel_requested"})


# --------------------------------------------------------------------------- events


class EventType(enum.StrEnum):
    """What a job event on the stream announces."""

    RUNNING = "running"  # a worker claimed the job (attempt N)
    PROGRESS = "progress"  # step / total while rendering
    REQUEUED = "requeued"  # a lease expired or a worker handed the job back
    CANCEL_REQUESTED = "cancel_requested"  # the running job will stop at its next step
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self.value in {s.value for s in _TERMINAL}


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One entry of the job event stream (stream fields are flat strings)."""

    type: EventType
    job_id: str
    guild_id: str
    channel_id: str
    user_id: str
    at: float
    attempt: int = 0
    #: event-specific payload: step/total, error text, result, ...
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    @_reader("the job event")
    def from_fields(cls, fields: Mapping[Any, Any]) -> JobEvent:
        """Read a stream entry (str or bytes); raises ContractError when malformed."""
        raw = _texts(fields, "job event")
        _check_version(_int_or_none(raw.get("v")), "job event")
        try:
            event = cls(
                type=EventType(raw["type"]),
                job_id=raw["job"],
                guild_id=raw["guild"],
                channel_id=raw["channel"],
                user_id=raw["user"],
                at=_finite("at", float(raw["at"])),
                attempt=int(raw.get("attempt", "0")),
                data=json.loads(raw.get("data") or "{}"),
            )
        except (KeyError, ValueError) as exc:
            raise ContractError(f"job event is malformed: {exc!r}") from exc
        except RecursionError:
            raise ContractError("job event is malformed: its data is nested too deeply") from None
        if not isinstance(event.data, dict):
            raise ContractError(
                f"job event is malformed: its data must be a JSON object, not {event.data!r:.40}"
            )
        if not _JOB_ID.fullmatch(event.job_id):
            raise ContractError(f"job event is malformed: job id {event.job_id!r} is not a job id")
        for name in ("guild_id", "channel_id", "user_id"):
            if not _SNOWFLAKE.fullmatch(getattr(event, name)):
                raise ContractError(
                    f"job event is malformed: {name} {getattr(event, name)!r} is not a Discord id"
                )
        if event.attempt < 0:
            raise ContractError(f"job event is malformed: attempt {event.attempt} is negative")
        return event


# ----------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class Keys:
    """Builders for every shared Redis key.

    All keys start with ``{namespace}:v1:``. The braces make the namespace a Redis Cluster
    hash tag, so every key of one deployment lives in one slot and the Lua scripts may
    touch any of them. Tests give each run its own namespace.
    """

    namespace: str = "reelbot"

    def __post_init__(self) -> None:
        if not _NAMESPACE.fullmatch(self.namespace):
            raise ContractError(f"namespace {self.namespace!r}: use 1-64 letters, digits, _ . -")

    @property
    def prefix(self) -> str:
        return f"{{{self.namespace}}}:v{CONTRACT_VERSION}:"

    # one job
    def job(self, job_id: str) -> str:
        """Hash: the job record fields plus the queue's own (lease, seq)."""
        return f"{self.prefix}job:{job_id}"

    def request(self, request_id: str) -> str:
        """String: request (interaction) id -> job id, for idempotent enqueue."""
        return f"{self.prefix}req:{request_id}"

    # lanes (one per model)
    def lane_guilds(self, lane: str) -> str:
        """Sorted set: guilds with queued jobs in the lane, by fair-share pass."""
        return f"{self.prefix}lane:{lane}:guilds"

    def lane_users(self, lane: str, guild_id: str) -> str:
        """Sorted set: members of a guild with queued jobs in the lane, by pass."""
        return f"{self.prefix}lane:{lane}:g:{guild_id}:users"

    def lane_jobs(self, lane: str, guild_id: str, user_id: str) -> str:
        """Sorted set: one member's queued jobs in the lane, by enqueue sequence."""
        return f"{self.prefix}lane:{lane}:g:{guild_id}:u:{user_id}"

    def lane_state(self, lane: str) -> str:
        """Hash: the lane's run-time statistics (for ETAs)."""
        return f"{self.prefix}lane:{lane}:state"

    def lane_depth(self, lane: str) -> str:
        """Hash: queued jobs in the lane per guild (``gd:<guild>``); their sum is the lane's depth."""
        return f"{self.prefix}lane:{lane}:depth"

    def lane_wake(self, lane: str) -> str:
        """List: a doorbell a blocked worker waits on (expires)."""
        return f"{self.prefix}lane:{lane}:wake"

    def lane_workers(self, lane: str) -> str:
        """Sorted set: worker ids serving the lane, by last heartbeat time."""
        return f"{self.prefix}lane:{lane}:workers"

    # shared
    def leases(self) -> str:
        """Sorted set: running job ids, by lease deadline."""
        return f"{self.prefix}leases"

    def depth(self) -> str:
        """Hash: queued jobs in all lanes (``all``) and per guild (``guild:<g>``)."""
        return f"{self.prefix}depth"

    def sequence(self) -> str:
        """String counter: enqueue order and lease fencing tokens."""
        return f"{self.prefix}seq"

    def events(self) -> str:
        """Stream: job events, read by the bot through a consumer group."""
        return f"{self.prefix}events"

    def worker(self, worker_id: str) -> str:
        """Hash: a worker's heartbeat record (expires)."""
        return f"{self.prefix}worker:{worker_id}"

    def blob(self, name: str) -> str:
        """String: a stored clip or image (expires)."""
        return f"{self.prefix}blob:{name}"

    # the bot's own records
    def posts(self, job_id: str) -> str:
        """Hash: the bot's notes on a job: its status and clip messages, what the filter flagged,
        and what became of the clip (posted, held, refused, rejected, deleted); expires with the job."""
        return f"{self.prefix}posts:{job_id}"

    def dead_events(self) -> str:
        """Stream: job events the bot set aside after they kept failing, for operators (trimmed)."""
        return f"{self.prefix}events:dead"

    def input_expiry(self) -> str:
        """Sorted set: input images stored for requests that are not queued (yet), by when to
        delete them; queueing the request takes its image off (the bot's janitor sweeps it)."""
        return f"{self.prefix}inputs:expiry"

    def notices(self, guild_id: str) -> str:
        """Hash: problems the bot told a guild's admins about, by kind, so each is told once (expires)."""
        return f"{self.prefix}notices:{guild_id}"

    def history(self, guild_id: str, user_id: str) -> str:
        """Sorted set: a member's posted clips in a guild (job ids by when posted), for /history;
        entries older than the record retention are trimmed, and the set expires with them."""
        return f"{self.prefix}history:{guild_id}:{user_id}"

    def member_jobs(self, guild_id: str, user_id: str) -> str:
        """Sorted set: a member's recent job ids by submit time, for /queue (expires)."""
        return f"{self.prefix}member:{guild_id}:{user_id}"

    # member limits (inference/jobqueue/admission.py and lua/admission.lua)
    def member_limits(self, guild_id: str, user_id: str) -> str:
        """Hash: a member's rate-limit arrival time, strikes and cooldown (expires)."""
        return f"{self.prefix}limits:{guild_id}:{user_id}"

    def member_active(self, guild_id: str, user_id: str) -> str:
        """Set: a member's admitted jobs still waiting or running (empty, so gone, when idle)."""
        return f"{self.prefix}active:{guild_id}:{user_id}"

    def quota(self, guild_id: str, day: int | str) -> str:
        """Hash: a guild's clips on one UTC day (``held``/``used``, and per member; expires)."""
        return f"{self.prefix}quota:{guild_id}:{day}"

    def blocked(self, guild_id: str) -> str:
        """Hash: members a moderator blocked from the bot in a guild, with the reason."""
        return f"{self.prefix}blocked:{guild_id}"

    # guild configuration, kept until an admin changes it
    def guild_config(self, guild_id: str) -> str:
        """Hash: a guild's settings, one JSON document per section (``limits``, ``tiers``, ...)."""
        return f"{self.prefix}guild:{guild_id}"

    def audit(self, guild_id: str) -> str:
        """Stream: who changed settings, blocked members or decided reviews (trimmed)."""
        return f"{self.prefix}audit:{guild_id}"

    # prompt enhancement (bot/enhance.py, bot/features/drafts)
    def enhance_cache(self, digest: str) -> str:
        """String: an enhanced prompt (JSON) for a digest of prompt, image, model and budget (expires)."""
        return f"{self.prefix}enhance:cache:{digest}"

    def enhance_rate(self, guild_id: str, user_id: str, window: int) -> str:
        """String counter: a member's enhancer calls in one rate window (expires)."""
        return f"{self.prefix}enhance:rate:{guild_id}:{user_id}:{window}"

    def draft(self, draft_id: str) -> str:
        """String: a /video request waiting for its member to decide on the enhanced prompt (expires)."""
        return f"{self.prefix}draft:{draft_id}"

    # moderation (bot/moderation.py, bot/features/approvals)
    def approval(self, approval_id: str) -> str:
        """Hash: a request or clip waiting for a moderator, and the decision once made (expires)."""
        return f"{self.prefix}approval:{approval_id}"

    def filter_strikes(self, guild_id: str, user_id: str) -> str:
        """Sorted set: when the filter blocked a member's prompts, images or clips (expires)."""
        return f"{self.prefix}fstrikes:{guild_id}:{user_id}"

    def appeals(self, guild_id: str, user_id: str, day: int) -> str:
        """String counter: a member's appeals on one UTC day (expires)."""
        return f"{self.prefix}appeals:{guild_id}:{user_id}:{day}"

    # operations
    def maintenance(self) -> str:
        """Hash: the deployment's maintenance mode (``paused`` or ``draining``), reason, by, at."""
        return f"{self.prefix}maintenance"

    def lane_from_key(self, key: str) -> str:
        """The lane name inside a ``lane:`` key, for admin tooling."""
        rest = key.removeprefix(self.prefix)
        if not rest.startswith("lane:"):
            raise ContractError(f"{key!r} is not a lane key")
        return rest.split(":", 2)[1]


def check_lane_name(name: str) -> str:
    """Validate a lane (model) name used in a key; returns it unchanged."""
    if not _MODEL_SLUG.fullmatch(name):
        raise ContractError(f"lane name {name!r} is not a model slug")
    return name


# -------------------------------------------------------------------------- helpers


def _check_version(version: object, what: str) -> None:
    # True == 1 in Python; a version is never a boolean
    if isinstance(version, bool) or version not in (CONTRACT_VERSION, str(CONTRACT_VERSION)):
        raise ContractError(
            f"{what} has contract version {version!r}; this Reelbot reads version "
            f"{CONTRACT_VERSION}. Upgrade the bot and workers together."
        )


def _typed(data: Mapping[str, Any], key: str, kind: type, *default: Any) -> Any:
    if key not in data or data[key] is None:
        if default:
            return default[0]
        raise ContractError(f"required field {key!r} is missing")
    value = data[key]
    if kind is int and isinstance(value, bool):
        raise ContractError(f"field {key!r} must be an integer")
    if not isinstance(value, kind):
        raise ContractError(f"field {key!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _float(data: Mapping[str, Any], key: str, default: float | None = None) -> Any:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(f"field {key!r} must be a number")
    try:
        return _finite(key, float(value))
    except OverflowError:
        raise ContractError(f"field {key!r} is too large for a number") from None


def _finite(key: str, value: float) -> float:
    """``value``, unless it is NaN or infinite (JSON cannot carry those)."""
    if not math.isfinite(value):
        raise ContractError(f"field {key!r} is {value}: a number must be finite")
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value: float | None = _float(data, key)
    if value is None:
        raise ContractError(f"required field {key!r} is missing")
    return value


def _no_unknown(data: Mapping[str, Any], kind: Any, what: str) -> None:
    unknown = set(data) - set(kind.__dataclass_fields__)
    if unknown:
        raise ContractError(f"unknown {what} fields: {sorted(unknown, key=repr)}")


def _check_result(result: object) -> None:
    """A job's result: a JSON object that JSON can carry back (the queue stores it unread)."""
    if not isinstance(result, dict):
        raise ContractError("job result must be a JSON object")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"job result cannot be stored as JSON: {exc}") from exc
    except RecursionError:
        raise ContractError("job result cannot be stored as JSON: it is nested too deeply") from None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _texts(fields: Mapping[Any, Any], what: str) -> dict[str, str]:
    """Redis fields as text: a client may hand back str or bytes, and bytes must be UTF-8."""
    if not isinstance(fields, Mapping):
        raise ContractError(f"{what} must be a mapping of fields")
    try:
        return {_text(k): _text(v) for k, v in fields.items()}
    except UnicodeDecodeError as exc:
        raise ContractError(f"{what} holds bytes that are not UTF-8: {exc}") from None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if not isinstance(value, str):
        raise ContractError(f"a Redis field must be text, not {type(value).__name__}")
    return value
