"""Start-up checks of the Redis server's version and durability settings."""

from __future__ import annotations

from pathlib import Path

from inference.jobqueue import check_server, connect
from inference.jobqueue.localredis import RedisServer


async def warnings_for(data_dir: Path, *server_args: str) -> list[str]:
    """What the start-up check says about a private server started with ``server_args``."""
    server = RedisServer(data_dir, None, *server_args).start()
    try:
        async with connect(server.url) as redis:
            return await check_server(redis)
    finally:
        server.stop()


async def test_a_durable_server_gets_no_warning(tmp_path: Path) -> None:
    assert await warnings_for(tmp_path) == []


async def test_unsafe_settings_are_named_with_their_consequence(tmp_path: Path) -> None:
    warnings = await warnings_for(
        tmp_path, "--appendonly", "no", "--maxmemory-policy", "allkeys-lru", "--appendfsync", "no"
    )
    assert len(warnings) == 3
    text = "\n".join(warnings)
    assert "appendonly is 'no', not 'yes': a Redis restart loses every queued job" in text
    assert "maxmemory-policy is 'allkeys-lru', not 'noeviction': Redis may evict queued jobs" in text
    assert "appendfsync is 'no', not 'everysec'" in text
    assert "docs/REDIS.md" in text


async def test_a_server_with_config_disabled_is_reported_not_fatal(tmp_path: Path) -> None:
    # managed services (ElastiCache) rename CONFIG away; we say what could not be checked
    warnings = await warnings_for(tmp_path, "--rename-command", "CONFIG", "")
    assert len(warnings) == 3
    assert all("cannot read Redis setting" in w and "CONFIG is disabled" in w for w in warnings)
