"""Queue settings, read once from the environment, and the checks of a Redis URL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from inference.contract import Keys

REDIS_SCHEMES = ("redis", "rediss", "unix")
#: what to do about a password that breaks its URL (each character is a URL delimiter)
PASSWORD_HINT = (
    "if the password holds / # ? @ : or %, percent-encode them in the URL "
    "(/ as %2F, # as %23, ? as %3F, @ as %40, : as %3A, % as %25), or use a password of "
    "letters and digits only (openssl rand -hex 32)"
)
#: a URL in a message: up to a space or a quote (botocore quotes the endpoint it could not reach)
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


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
        check_redis_url(self.redis_url)
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


def check_redis_url(url: str) -> None:
    """Refuse a Redis URL that would not parse, before a client quotes it in an error.

    Raises:
        ValueError: ``url`` is not a Redis URL; the message shows it with its password hidden
            and says what to fix.
    """
    shown = redact_url(url)
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in REDIS_SCHEMES:
        raise ValueError(
            f"REDIS_URL {shown} is not a Redis URL: write redis://[[user]:password@]host[:port][/db] "
            "(rediss:// for TLS, unix:///path/to/socket for a socket)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # parses the port, raising ValueError if it is not one
    except ValueError:
        raise ValueError(f"REDIS_URL {shown} does not parse as host[:port]: {PASSWORD_HINT}") from None
    if scheme.lower() == "unix":
        return
    if not parts.hostname or parts.fragment or (parts.path not in ("", "/") and not parts.path[1:].isdigit()):
        raise ValueError(
            f"REDIS_URL {shown} is not redis://[[user]:password@]host[:port][/db]: {PASSWORD_HINT}"
        )


def redact_url(url: str) -> str:
    """``url`` with its user part replaced by ``***``, even when the URL is malformed.

    Everything between ``://`` and the last ``@`` is the user part: a password holding ``/``,
    ``#`` or ``?`` cuts a URL short for a parser, so the parser's idea of the user part cannot
    be trusted. The user name goes too (for S3 it is an access key id). A URL without ``@`` may
    still hold a password where a port should be (``redis://:secret``): whatever follows a
    port that is not a number is hidden.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if url else ""
    _, at, host = rest.rpartition("@")
    if at:
        rest = f"***@{host}"
    else:
        rest = re.sub(r"^([^/?#]*?):(?![0-9]*(?:[/?#]|$)).*", r"\1:***", rest, flags=re.S)
    return f"{scheme}{sep}{rest}"


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it hidden (for error messages and logs)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
