"""Deployment files, checked statically (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from inference.jobqueue.connection import RECOMMENDED
from inference.jobqueue.localredis import DURABLE_ARGS

ROOT = Path(__file__).parents[1]


def redis_conf() -> dict[str, str]:
    settings = {}
    for line in (ROOT / "infra" / "redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            settings[name] = value.strip()
    return settings


def test_redis_conf_has_the_settings_the_start_up_check_wants() -> None:
    conf = redis_conf()
    for name, wanted in RECOMMENDED.items():
        assert conf.get(name) == wanted, name


def test_the_local_server_of_reelbot_run_uses_the_same_settings() -> None:
    pairs = dict(zip(DURABLE_ARGS[::2], DURABLE_ARGS[1::2], strict=True))
    for name, wanted in RECOMMENDED.items():
        assert pairs[f"--{name}"] == wanted


def test_compose_runs_redis_with_that_file_a_volume_and_a_health_check() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis = compose["services"]["redis"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in redis["volumes"]}
    conf_in_container = mounted["./infra/redis.conf"]
    assert conf_in_container in redis["command"]
    assert any(v.startswith("redis-data:") for v in redis["volumes"])
    assert "redis-data" in compose["volumes"]
    assert redis["healthcheck"]["test"][-1] == "ping"
    assert redis["restart"] == "unless-stopped"
    assert (ROOT / "infra" / "redis.conf").is_file()
