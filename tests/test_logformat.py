"""JSON log lines: one object per line, with the job id a line names."""

from __future__ import annotations

import json
import logging

import pytest

from inference.logformat import JsonFormatter, configure


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("reelbot.test", logging.WARNING, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_a_job_line_carries_its_job_id() -> None:
    line = JsonFormatter().format(
        record("job %s: could not post its status message: %s", "0wjxzyz2hnpb", "503")
    )
    entry = json.loads(line)

    assert entry["job_id"] == "0wjxzyz2hnpb" and entry["level"] == "WARNING"
    assert entry["message"] == "job 0wjxzyz2hnpb: could not post its status message: 503"
    assert entry["logger"] == "reelbot.test" and entry["time"].endswith("+00:00")


def test_extras_win_and_lines_without_ids_have_none() -> None:
    formatter = JsonFormatter()
    given = json.loads(
        formatter.format(record("claimed", job_id="abcdefabcdef", worker_id="w-1", guild_id="42"))
    )
    plain = json.loads(formatter.format(record("synced %d commands", 7)))

    assert (given["job_id"], given["worker_id"], given["guild_id"]) == ("abcdefabcdef", "w-1", "42")
    assert "job_id" not in plain and plain["message"] == "synced 7 commands"


def test_an_exception_is_kept_in_the_object() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        made = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(made))
    assert "RuntimeError: boom" in entry["exception"]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="use text or json"):
        configure("INFO", "xml")
