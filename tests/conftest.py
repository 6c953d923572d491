"""Test fixtures: a real Redis, a private key namespace per test, and job builders.

Redis: ``REDIS_URL`` when set, else the server on 127.0.0.1:6379 when one answers, else a
private ``redis-server`` started for the session. The shared server is never flushed:
each test gets its own namespace, and only its keys are deleted afterwards.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from inference.contract import GenerationSpec, JobRecord, ModelId
from inference.jobqueue import JobQueue, QueueSettings, connect, new_job_id
from inference.jobqueue.localredis import RedisServer, ping

# the end-to-end rig's fixtures (box, models, restore_discord_urls), for every test module
pytest_plugins = ["tests.bot_box"]

_request_ids = itertools.count(1)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
    elif ping(6379):
        yield "redis://127.0.0.1:6379/0"
    else:
        server = RedisServer(tmp_path_factory.mktemp("redis")).start()
        yield server.url
        server.stop()


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep botocore away from the developer's ~/.aws files, AWS_* settings and instance metadata."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def namespace() -> str:
    return f"rbtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(redis_url: str, namespace: str) -> QueueSettings:
    # short leases so that crash drills take seconds, not minutes
    return QueueSettings(
        redis_url=redis_url,
        namespace=namespace,
        lease_seconds=1.0,
        heartbeat_seconds=0.25,
        reap_interval_seconds=0.1,
        global_cap=10_000,
        guild_cap=5_000,
    )


@pytest.fixture
async def redis(settings: QueueSettings) -> AsyncIterator[Redis]:
    client = connect(settings.redis_url)
    yield client
    await delete_namespace(client, settings.namespace)
    await client.aclose()


@pytest.fixture
def queue(redis: Redis, settings: QueueSettings) -> JobQueue:
    return JobQueue(redis, settings)


async def delete_namespace(client: Redis, namespace: str) -> None:
    batch = [key async for key in client.scan_iter(match=f"{{{namespace}}}:*", count=1000)]
    for i in range(0, len(batch), 500):
        await client.delete(*batch[i : i + 500])


def make_job(
    guild: str = "100",
    user: str = "200",
    *,
    model: ModelId = ModelId.COGVIDEOX_2B,
    request_id: str | None = None,
    prompt: str = "a bee on a flower",
    weight: float = 1.0,
    max_attempts: int = 3,
    channel: str = "300",
) -> JobRecord:
    """A fresh job, as the bot would build it for one /video interaction."""
    image = "blob:input" if model.image_to_video else None
    return JobRecord(
        id=new_job_id(),
        request_id=request_id or f"interaction-{next(_request_ids)}-{uuid.uuid4().hex[:6]}",
        guild_id=guild,
        channel_id=channel,
        user_id=user,
        spec=GenerationSpec(prompt=prompt, model=model, image_ref=image),
        weight=weight,
        max_attempts=max_attempts,
    )


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight pipelines saved to disk, as ``reelbot make-tiny-model`` writes them:
    ``2b`` (cogvideox-2b), ``5b`` (cogvideox-5b) and ``i2v`` (cogvideox-5b-i2v, same family as 5b)."""
    from inference.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "2b": make_tiny_model(root / "2b", ModelId.COGVIDEOX_2B),
        "5b": make_tiny_model(root / "5b", ModelId.COGVIDEOX_5B),
        "i2v": make_tiny_model(root / "i2v", ModelId.COGVIDEOX_5B_I2V),
    }


@pytest.fixture(scope="session")
def tiny15_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny CogVideoX 1.5 stand-ins (temporal patches of 2, 112 x 64 frames): ``15`` (cogvideox1.5-5b)
    and ``15i2v`` (cogvideox1.5-5b-i2v, the same family)."""
    from inference.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("tiny15-models")
    return {
        "15": make_tiny_model(root / "15", ModelId.COGVIDEOX15_5B),
        "15i2v": make_tiny_model(root / "15i2v", ModelId.COGVIDEOX15_5B_I2V),
    }


@pytest.fixture(scope="session")
def tiny_wan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Wan 2.2 TI2V-5B stand-in (9 frames of 128 x 64 at 24 fps, text or an image), as
    ``reelbot make-tiny-model DIR --family wan`` writes it."""
    from inference.tiny_wan import make_tiny_wan

    return make_tiny_wan(tmp_path_factory.mktemp("tiny-wan") / "wan", layers=2)
