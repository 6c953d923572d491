"""Log lines as JSON objects, one per line, for log collectors (``REELBOT_LOG_FORMAT=json``).

Each object has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``, the traceback
under ``exception`` when there is one, and the ids a line names: ``job_id`` (from
``extra={"job_id": ...}`` or a ``job <id>`` in the message, as every job lifecycle line has),
``guild_id`` and ``worker_id`` when given as extras. Filtering a collector by ``job_id`` then
shows one job's whole life across the bot and the workers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

#: "job 0wjxzyz2hnpb" or "job `0wjxzyz2hnpb`": how log lines name a job
_JOB = re.compile(r"\bjob `?([0-9a-z]{12})\b")
_EXTRAS = ("job_id", "guild_id", "worker_id", "attempt")


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for name in _EXTRAS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if "job_id" not in entry:
            found = _JOB.search(message)
            if found:
                entry["job_id"] = found.group(1)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    """Set up the root logger: ``fmt`` is ``text`` (the default) or ``json``.

    Raises:
        ValueError: an unknown format.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"REELBOT_LOG_FORMAT={fmt!r}: use text or json")
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
