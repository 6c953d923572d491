"""Queue settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from inference.contract import Keys


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """How the queue behaves. Every field has an environment variable ``REELBOT_<NAME>``."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "reelbot"
    #: a worker that stops heart-beating loses its job after this long
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 5.0
    #: how often workers and the bot look for expired leases
    reap_interval_seconds: float = 2.0
    max_attempts: int = 3
    #: how long finished job records (and their request ids) are kept
    retention_seconds: int = 7 * 24 * 3600
    #: queued jobs allowed in all lanes together, and per guild (0 = no cap)
    global_cap: int = 1000
    guild_cap: int = 100
    #: approximate length the event stream is trimmed to
    events_maxlen: int = 200_000
    #: the run time assumed for ETAs until a lane has measured its own
    default_job_seconds: float = 180.0

    def __post_init__(self) -> None:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"REELBOT_HEARTBEAT_SECONDS ({self.heartbeat_seconds}) must be at most half of "
                f"REELBOT_LEASE_SECONDS ({self.lease_seconds}), or leases expire between beats"
            )
        if self.max_attempts < 1:
            raise ValueError("REELBOT_MAX_ATTEMPTS must be at least 1")
        if self.retention_seconds < 60:
            raise ValueError("REELBOT_RETENTION_SECONDS must be at least 60")
        if self.events_maxlen < 1000:
            raise ValueError("REELBOT_EVENTS_MAXLEN must be at least 1000")

    @property
    def keys(self) -> Keys:
        return Keys(self.namespace)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> QueueSettings:
        """Build settings from ``REDIS_URL`` and ``REELBOT_*`` variables.

        Raises:
            ValueError: a variable does not parse; the message names it.
        """
        values: dict[str, object] = {}
        if environ.get("REDIS_URL"):
            values["redis_url"] = environ["REDIS_URL"]
        for f in fields(cls):
            name = f"REELBOT_{f.name.upper()}"
            if f.name == "redis_url" or name not in environ:
                continue
            raw = environ[name]
            kind = type(getattr(cls(), f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]
