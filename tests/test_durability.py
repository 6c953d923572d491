"""Start-up checks of the Redis server's version and durability settings."""

from __future__ import annotations

from pathlib import Path

from inference.jobqueue import check_server, connect
from inference.jobqueue.localredis import RedisServer


async def test_a_durable_server_gets_no_warning(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "ok").start()
    try:
        async with connect(server.url) as redis:
            assert await check_server(redis) == []
    finally:
        server.stop()


async def test_unsafe_settings_are_named_with_their_consequence(tmp_path: Path) -> None:
    server = RedisServer(
        tmp_path / "unsafe", None,
        "--appendonly", "no", "--maxmemory-policy", "allkeys-lru", "--appendfsync", "no",
    ).start()  # fmt: skip
    try:
        async with connect(server.url) as redis:
            warnings = await check_server(redis)
    finally:
        server.stop()
    assert len(warnings) == 3
    text = "\n".join(warnings)
    assert "appendonly is 'no', not 'yes': a Redis restart loses every queued job" in text
    assert "maxmemory-policy is 'allkeys-lru', not 'noeviction': Redis may evict queued jobs" in text
    assert "appendfsync is 'no', not 'everysec'" in text
    assert "docs/REDIS.md" in text


async def test_a_server_with_config_disabled_is_reported_not_fatal(tmp_path: Path) -> None:
    # managed services (ElastiCache) rename CONFIG away; we say what could not be checked
    server = RedisServer(tmp_path / "managed", None, "--rename-command", "CONFIG", "").start()
    try:
        async with connect(server.url) as redis:
            warnings = await check_server(redis)
    finally:
        server.stop()
    assert len(warnings) == 3
    assert all("cannot read Redis setting" in w and "CONFIG is disabled" in w for w in warnings)
