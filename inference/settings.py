"""The GPU worker's settings, read once from the environment (``REELBOT_<NAME>``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from inference.speed import parse_levers

OFFLOAD_MODES = ("none", "model", "sequential")
STORAGE_KINDS = ("redis", "s3")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker loads its models, renders, stores clips and reports its health."""

    #: what to load: model ids (``cogvideox-2b``), directories saved with ``save_pretrained``
    #: (the model is recognised from its configs), or ``ID=DIR`` / ``ID=HUB_ID``
    models: tuple[str, ...] = ("cogvideox-2b",)
    #: "auto" (CUDA when present), "cuda", "cuda:1" or "cpu"
    device: str = "auto"
    #: "none" (fastest), "model" (whole models move to the GPU in turn) or
    #: "sequential" (layer by layer: least memory, several times slower)
    offload: str = "none"
    vae_tiling: bool = True
    vae_slicing: bool = True
    #: speed preset (inference/speed.py): "exact" (default: today's computation, compiled and
    #: with fused attention projections on CUDA), "balanced" (plus step caching) or "fast"
    #: (plus fp8 and 8-bit attention; CUDA only)
    speed: str = "exact"
    #: single levers over the preset; "auto" keeps the preset's choice
    compile: str = "auto"
    fuse_qkv: str = "auto"
    quant: str = "auto"
    attention: str = "auto"
    cache: str = "auto"
    #: scheduled caches compute one step in this many mid-schedule (0 = the preset's)
    cache_interval: int = 0
    #: count the transformer's units of work per render, reported in the job's result (tests and
    #: benchmarks; costs a Python call per block)
    count_work: bool = False
    #: a job still rendering after this long fails (0 = no limit)
    job_timeout_seconds: float = 1800.0
    #: on SIGTERM, how long the running job may finish before it goes back to the queue
    grace_seconds: float = 60.0
    #: after a time limit or a stop, how long the render thread gets to notice before the
    #: worker declares itself stuck and exits (a supervisor restarts it)
    stuck_seconds: float = 30.0
    #: at most one progress event per this many seconds
    progress_interval: float = 1.0
    #: where clips and input images go: "redis" (no extra infrastructure) or "s3"
    storage: str = "redis"
    #: how long a clip stays in Redis storage (S3: the bucket's lifecycle rule decides)
    clip_ttl_seconds: int = 2 * 24 * 3600
    s3_bucket: str = ""
    s3_prefix: str = "reelbot/"
    s3_region: str = ""
    s3_endpoint_url: str = ""
    #: how long a presigned S3 link stays valid (SigV4 allows at most 7 days)
    link_seconds: int = 24 * 3600
    #: the /healthz and /metrics endpoint (port 0 = off)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    #: smooth every clip to this frame rate by motion interpolation (16 or 24; 0 = off); a request
    #: can ask for its own (``/video smooth:``)
    smooth_fps: int = 0
    #: x264 quality (lower = better and bigger; 18 is visually lossless for most clips)
    video_crf: int = 18
    #: score frames of every finished clip with the NSFW classifier (inference/safety.py) and put
    #: the scores in the job's result; the bot decides with the guild's thresholds. Off: clips
    #: carry no scores, and the bot treats them as unchecked.
    output_filter: bool = True
    #: frames scored per clip, spread evenly from the first to the last
    output_filter_frames: int = 8

    def __post_init__(self) -> None:
        parse_levers(self.speed_variables())
        if not self.models:
            raise ValueError("REELBOT_MODELS is empty: name at least one model, e.g. cogvideox-2b")
        if self.offload not in OFFLOAD_MODES:
            raise ValueError(f"REELBOT_OFFLOAD={self.offload!r}: use one of {', '.join(OFFLOAD_MODES)}")
        if self.storage not in STORAGE_KINDS:
            raise ValueError(f"REELBOT_STORAGE={self.storage!r}: use one of {', '.join(STORAGE_KINDS)}")
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("REELBOT_STORAGE=s3 needs REELBOT_S3_BUCKET: the bucket clips go to")
        if "@" in self.s3_endpoint_url.partition("://")[2]:
            raise ValueError(
                # the URL is not quoted, since hiding its password takes the queue's redact_url,
                # and this module loads nothing beyond the standard library (the bot reads it)
                "REELBOT_S3_ENDPOINT_URL holds credentials (a user part before @): take them out of "
                "the URL and give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a role)"
            )
        if not 60 <= self.link_seconds <= 7 * 24 * 3600:
            raise ValueError("REELBOT_LINK_SECONDS must be between 60 and 604800 (7 days)")
        if self.clip_ttl_seconds < 60:
            raise ValueError("REELBOT_CLIP_TTL_SECONDS must be at least 60")
        if self.smooth_fps not in (0, 16, 24):
            raise ValueError("REELBOT_SMOOTH_FPS must be 0 (off), 16 or 24")
        if not 0 <= self.video_crf <= 51:
            raise ValueError("REELBOT_VIDEO_CRF must be between 0 and 51")
        if self.output_filter_frames < 2:
            raise ValueError("REELBOT_OUTPUT_FILTER_FRAMES must be at least 2 (the first and the last frame)")
        for name in ("job_timeout_seconds", "grace_seconds", "stuck_seconds", "progress_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"REELBOT_{name.upper()} must not be negative")

    def speed_variables(self) -> dict[str, str]:
        """The speed preset and levers as their ``REELBOT_*`` variables (for inference.speed)."""
        names = ("speed", "compile", "fuse_qkv", "quant", "attention", "cache")
        found = {f"REELBOT_{name.upper()}": str(getattr(self, name)) for name in names}
        if self.cache_interval:
            found["REELBOT_CACHE_INTERVAL"] = str(self.cache_interval)
        return found

    def replace(self, **changes: Any) -> WorkerSettings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerSettings:
        """Build settings from ``REELBOT_*`` variables (lists are comma-separated).

        Raises:
            ValueError: a variable does not parse; the message names it.
        """
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            name = f"REELBOT_{f.name.upper()}"
            if name in environ:
                values[f.name] = _parse(name, environ[name], getattr(defaults, f.name))
        return cls(**values)


def _parse(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}={raw!r}: use true or false")
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    kind = type(default)
    try:
        return kind(raw)  # type: ignore[call-arg]
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
