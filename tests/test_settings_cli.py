"""Settings from the environment and the ``reelbot`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.settings import BotSettings
from inference.cli import main
from inference.jobqueue import JobQueue, QueueSettings, connect
from inference.jobqueue.localredis import RedisServer
from inference.jobqueue.settings import redact_url, redact_urls
from tests.conftest import make_job

ROOT = Path(__file__).parents[1]


def test_settings_come_from_the_environment() -> None:
    settings = QueueSettings.from_env(
        {"REDIS_URL": "redis://cache:6379/2", "REELBOT_LEASE_SECONDS": "30", "REELBOT_GUILD_CAP": "7"}
    )
    assert (settings.redis_url, settings.lease_seconds, settings.guild_cap) == (
        "redis://cache:6379/2",
        30.0,
        7,
    )
    assert settings.retention_seconds == 7 * 24 * 3600  # finished jobs are kept a week by default


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REELBOT_GUILD_CAP": "lots"}, "REELBOT_GUILD_CAP='lots' is not a valid int"),
        ({"REELBOT_HEARTBEAT_SECONDS": "10"}, "must be at most half of REELBOT_LEASE_SECONDS"),
        ({"REELBOT_MAX_ATTEMPTS": "0"}, "REELBOT_MAX_ATTEMPTS must be at least 1"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QueueSettings.from_env(env)


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        ("https://cdn.discordapp.com@evil.example", "is not an origin"),  # a user part: the host is evil
        ("https://cdn.discordapp.com/attachments", "is not an origin"),
        ("cdn.discordapp.com", "is not an origin"),
        ("ftp://cdn.discordapp.com", "is not an origin"),
        ("https://cdn.discordapp.com?x=1", "is not an origin"),
    ],
)
def test_cdn_origins_are_checked_at_start_up_by_the_parser_used_for_each_attachment(
    origins: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"DISCORD_CDN_ORIGINS: .*{message}"):
        BotSettings.from_env({"DISCORD_CDN_ORIGINS": origins})


def test_cdn_origins_are_normalised_as_at_request_time() -> None:
    settings = BotSettings.from_env(
        {"DISCORD_CDN_ORIGINS": "HTTPS://CDN.DiscordApp.com:443/, http://Media.example:8080"}
    )
    assert settings.cdn_origins == ("https://cdn.discordapp.com", "http://media.example:8080")


def test_cli_reports_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REELBOT_LEASE_SECONDS", "soon")
    assert main(["queue", "status"]) == 2
    assert "REELBOT_LEASE_SECONDS='soon' is not a valid float" in capsys.readouterr().err


#: a Redis password holding each character that cuts a URL short for a parser
PASSWORD = "s3cr3tPW/Zq8Xw#Rt5Yp?Mn2Bv"


def parts_of(secret: str, size: int = 4) -> set[str]:
    """Every run of ``size`` characters of ``secret``: none may be shown."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


@pytest.mark.parametrize("delimiter", ["/", "#", "?"])
@pytest.mark.parametrize("command", [["queue", "check"], ["worker"], ["bot"], ["run"]])
def test_a_redis_password_that_breaks_its_url_is_never_shown_and_the_fix_is(
    delimiter: str, command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: "Port could not be cast to integer value as 's3cr3tPW'"
    password = f"s3cr3tPW{delimiter}Zq8Xw"
    monkeypatch.setenv("REDIS_URL", f"redis://:{password}@127.0.0.1:6379/0")
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("reelbot: configuration error: REDIS_URL redis://***@127.0.0.1:6379/0 ")
    assert "percent-encode" in err and "%2F" in err and "%23" in err and "%3F" in err
    assert not {part for part in parts_of(password) if part in err}, err
    assert err.count("\n") == 1, err


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{PASSWORD}@redis:6379/0",
        f"redis://default:{PASSWORD}@redis:6379/0",
        f"rediss://:{PASSWORD}@cache.example:6380",
        f"redis://:{PASSWORD}",  # no host at all: the password sits where the port would be
        f"redis:/:{PASSWORD}@redis:6379/0",  # a typo in the scheme
        PASSWORD,  # the password alone
    ],
)
def test_no_part_of_a_password_is_in_a_start_up_error(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert main(["queue", "check"]) == 2
    err = capsys.readouterr().err
    assert "REDIS_URL" in err
    assert not {part for part in parts_of(PASSWORD) if part in err}, err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@redis:6379/0", "redis://***@redis:6379/0"),
        ("redis://reelbot:p%2Fw@redis:6379/0", "redis://***@redis:6379/0"),
        ("redis://:a/b#c?d@redis:6379/0", "redis://***@redis:6379/0"),
        ("redis://:a@b@redis", "redis://***@redis"),
        ("redis://secret@redis", "redis://***@redis"),  # a password written as a user name
        ("redis://:secret", "redis://:***"),
        ("redis://:secret/more", "redis://:***"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("https://key:secret@minio:9000/bucket", "https://***@minio:9000/bucket"),
        ("", ""),
        ("secret", "***"),
    ],
)
def test_urls_are_shown_with_their_password_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    if "://" in url:  # in a message, as botocore quotes an endpoint
        assert redact_urls(f'Could not connect to "{url}".') == f'Could not connect to "{shown}".'


def test_a_percent_encoded_password_is_accepted() -> None:
    url = "redis://:s3cr3tPW%2FZq8Xw%23Rt5Yp%3FMn2Bv@redis:6379/0"
    assert QueueSettings.from_env({"REDIS_URL": url}).redis_url == url


async def test_a_wrong_password_is_reported_at_once_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        async with connect(server.url) as redis:
            await redis.config_set("requirepass", "right")
        monkeypatch.setenv("REDIS_URL", f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/0")
        started = time.monotonic()
        assert await asyncio.to_thread(main, ["queue", "check"]) == 1
        assert time.monotonic() - started < 5, "a wrong password is not retried"
    finally:
        server.kill()
    err = capsys.readouterr().err
    assert "Redis refused the user name or password in REDIS_URL" in err
    assert not {part for part in parts_of(PASSWORD) if part in err}, err


async def test_queue_status_shows_depth_per_lane_and_guild(queue: JobQueue) -> None:
    for guild in ("1", "1", "2"):
        await queue.enqueue(make_job(guild=guild))
    env = os.environ | {"REDIS_URL": queue.settings.redis_url, "REELBOT_NAMESPACE": queue.settings.namespace}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "queue", "status", "--json"], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert report["queued"] == 3
    assert report["lanes"]["cogvideox-2b"] == {"queued": 2 + 1, "workers": 0}
    assert report["guilds"] == {"1": 2, "2": 1}


def test_cli_explains_an_unreachable_redis() -> None:
    env = os.environ | {"REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "queue", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "cannot reach Redis" in out.stderr and "REDIS_URL" in out.stderr


# the command lives in inference/cli.py; these two subcommands still reach the bot and its settings
@pytest.mark.parametrize("command", ["run", "bot"])
def test_reelbot_run_and_bot_without_a_token_say_how_to_get_one(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("reelbot: cannot start: DISCORD_TOKEN is not set")
    assert "discord.com/developers/applications" in done.stderr


async def test_queue_serve_reaps_expired_leases_and_stops_on_sigint(queue: JobQueue) -> None:
    job = (await queue.enqueue(make_job())).job
    await queue.claim("a-worker-that-dies", ["cogvideox-2b"])
    env = os.environ | {
        "REDIS_URL": queue.settings.redis_url,
        "REELBOT_NAMESPACE": queue.settings.namespace,
        "REELBOT_LEASE_SECONDS": "1",
        "REELBOT_HEARTBEAT_SECONDS": "0.5",
        "REELBOT_REAP_INTERVAL_SECONDS": "0.2",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "bot", "queue", "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(100):
            if (await queue.get(job.id)).status == "queued":
                break
            await asyncio.sleep(0.1)
        assert (await queue.get(job.id)).status == "queued"  # back in the queue for a live worker
    finally:
        service.send_signal(signal.SIGINT)
        _, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert "reaped expired leases: 1 requeued" in err
    assert "queue service stopped" in err
