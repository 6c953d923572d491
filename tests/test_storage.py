"""Blob storage: a real Redis, and real boto3 against a local S3 endpoint (moto's server)."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from moto.server import ThreadedMotoServer
from redis.asyncio import Redis

from inference.jobqueue import QueueSettings
from inference.settings import WorkerSettings
from inference.storage import (
    BlobNotFound,
    BlobTooLarge,
    RedisBlobStore,
    S3BlobStore,
    StorageError,
    open_store,
)

# every byte value, NUL included, and a few KiB of it
PAYLOAD = bytes(range(256)) * 20 + b"\0\0\0"
TTL = 120
BAD_NAMES = [
    "",
    "../etc/passwd",
    "clips/../x.mp4",
    "/clips/x.mp4",
    "clips//x.mp4",
    "a b.mp4",
    "é.png",
    "x" * 201,
]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ----------------------------------------------------------------------------- Redis


@pytest.fixture
async def binary_redis(redis_url: str, redis: Redis) -> AsyncIterator[Redis]:
    """A client without decode_responses; the ``redis`` fixture deletes the namespace's keys after."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def store(binary_redis: Redis, settings: QueueSettings) -> RedisBlobStore:
    return RedisBlobStore(binary_redis, settings.keys, ttl_seconds=TTL)


async def test_redis_round_trips_binary_data_under_the_contract_key_with_a_ttl(
    store: RedisBlobStore, binary_redis: Redis, settings: QueueSettings
) -> None:
    blob = await store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")

    assert (blob.size, blob.content_type) == (len(PAYLOAD), "video/mp4")
    assert await store.get(blob.ref) == PAYLOAD
    key = settings.keys.blob("clips/j0b1d2.mp4")
    assert await binary_redis.get(key) == PAYLOAD
    assert 0 < await binary_redis.ttl(key) <= TTL
    assert await store.url(blob.ref) is None


async def test_redis_put_replaces_a_blob_of_the_same_name(store: RedisBlobStore) -> None:
    await store.put("inputs/j0b1d2.png", b"first", "image/png")
    blob = await store.put("inputs/j0b1d2.png", b"second", "image/png")

    assert await store.get(blob.ref) == b"second"


async def test_redis_missing_and_deleted_blobs_are_not_found(store: RedisBlobStore) -> None:
    blob = await store.put("clips/gone.mp4", PAYLOAD, "video/mp4")
    await store.delete(blob.ref)

    with pytest.raises(BlobNotFound, match="expired"):
        await store.get(blob.ref)
    await store.delete(blob.ref)  # deleting twice is fine


async def test_redis_refuses_a_blob_over_the_limit_and_stores_nothing(
    binary_redis: Redis, settings: QueueSettings
) -> None:
    store = RedisBlobStore(binary_redis, settings.keys, ttl_seconds=TTL, max_bytes=1024)

    with pytest.raises(StorageError, match="limit of 1024 bytes") as caught:
        await store.put("clips/big.mp4", bytes(1025), "video/mp4")

    assert isinstance(caught.value, BlobTooLarge)
    assert await binary_redis.exists(settings.keys.blob("clips/big.mp4")) == 0
    await store.put("clips/fits.mp4", bytes(1024), "video/mp4")


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_names_are_refused(store: RedisBlobStore, name: str) -> None:
    with pytest.raises(ValueError, match="blob name"):
        await store.put(name, b"x", "video/mp4")


@pytest.mark.parametrize(
    "ref",
    [
        "s3://reelbot-clips/clips/j0b1d2.mp4",  # another backend
        "redis:someone-else/clips/j0b1d2.mp4",  # another namespace
        "clips/j0b1d2.mp4",  # a name, not a reference
        "redis:",
    ],
)
async def test_redis_refuses_a_foreign_reference(store: RedisBlobStore, ref: str) -> None:
    for call in (store.get(ref), store.url(ref), store.delete(ref)):
        with pytest.raises(StorageError) as caught:
            await call
        assert not isinstance(caught.value, BlobNotFound)


async def test_redis_refuses_a_malformed_reference_in_its_own_namespace(
    store: RedisBlobStore, settings: QueueSettings
) -> None:
    with pytest.raises(StorageError, match="malformed"):
        await store.get(f"redis:{settings.namespace}/../secrets")


async def test_a_decoding_client_is_refused(redis: Redis, settings: QueueSettings) -> None:
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisBlobStore(redis, settings.keys, ttl_seconds=TTL)


async def test_open_store_builds_a_redis_store_that_closes_its_client(
    settings: QueueSettings, redis: Redis
) -> None:
    store = open_store(
        "redis",
        redis_url=settings.redis_url,
        keys=settings.keys,
        ttl_seconds=TTL,
        bucket=None,
        prefix="",
        region=None,
        endpoint_url=None,
    )
    blob = await store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")
    assert await store.get(blob.ref) == PAYLOAD
    await store.aclose()


async def test_unreachable_redis_is_a_storage_error(settings: QueueSettings) -> None:
    store = RedisBlobStore.from_url(f"redis://127.0.0.1:{closed_port()}/0", settings.keys, TTL)
    try:
        with pytest.raises(StorageError, match="cannot reach Redis"):
            await store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("kind", "bucket", "setting"),
    [("disk", None, "REELBOT_STORAGE"), ("s3", None, "REELBOT_S3_BUCKET"), ("s3", "", "REELBOT_S3_BUCKET")],
)
def test_open_store_names_the_setting_to_fix(
    settings: QueueSettings, kind: str, bucket: str | None, setting: str
) -> None:
    with pytest.raises(ValueError, match=setting):
        open_store(
            kind,
            redis_url=settings.redis_url,
            keys=settings.keys,
            ttl_seconds=TTL,
            bucket=bucket,
            prefix="",
            region=None,
            endpoint_url=None,
        )


# -------------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint_url: str, **config: Any) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=endpoint_url, config=Config(signature_version="s3v4", **config))


@pytest.fixture
def bucket(s3_endpoint: str) -> Iterator[str]:
    name = f"reelbot-test-{uuid.uuid4().hex[:12]}"
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=name)
    yield name
    for item in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
async def s3_store(s3_endpoint: str, bucket: str) -> AsyncIterator[S3BlobStore]:
    store = S3BlobStore(bucket, "reelbot", client=s3_client(s3_endpoint))
    yield store
    await store.aclose()


async def test_s3_round_trips_binary_data_with_its_content_type(
    s3_store: S3BlobStore, s3_endpoint: str, bucket: str
) -> None:
    blob = await s3_store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")

    assert (blob.size, blob.content_type) == (len(PAYLOAD), "video/mp4")
    assert await s3_store.get(blob.ref) == PAYLOAD
    # what a bucket lifecycle rule on the prefix, and a browser, will see
    head = s3_client(s3_endpoint).head_object(Bucket=bucket, Key="reelbot/clips/j0b1d2.mp4")
    assert (head["ContentLength"], head["ContentType"]) == (len(PAYLOAD), "video/mp4")


async def test_s3_presigned_link_downloads_the_blob(s3_store: S3BlobStore) -> None:
    blob = await s3_store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")
    link = await s3_store.url(blob.ref, expires_seconds=300)

    def fetch() -> tuple[bytes, str]:
        with urllib.request.urlopen(link, timeout=10) as response:
            return response.read(), response.headers["Content-Type"]

    assert await asyncio.to_thread(fetch) == (PAYLOAD, "video/mp4")
    with pytest.raises(ValueError, match="expires_seconds"):
        await s3_store.url(blob.ref, expires_seconds=8 * 24 * 3600)


async def test_s3_deleted_blobs_are_not_found(s3_store: S3BlobStore) -> None:
    blob = await s3_store.put("inputs/j0b1d2.png", PAYLOAD, "image/png")
    await s3_store.delete(blob.ref)

    with pytest.raises(BlobNotFound, match="deleted"):
        await s3_store.get(blob.ref)
    await s3_store.delete(blob.ref)  # deleting twice is fine


async def test_s3_refuses_foreign_references_bad_names_and_large_blobs(
    s3_store: S3BlobStore, s3_endpoint: str, bucket: str
) -> None:
    for ref in ("s3://other-bucket/reelbot/clips/x.mp4", f"s3://{bucket}/elsewhere/x.mp4", "redis:ns/x"):
        with pytest.raises(StorageError, match="not a blob of") as caught:
            await s3_store.get(ref)
        assert not isinstance(caught.value, BlobNotFound)
    for name in BAD_NAMES:
        with pytest.raises(ValueError, match="blob name"):
            await s3_store.put(name, b"x", "video/mp4")
    small = S3BlobStore(bucket, client=s3_client(s3_endpoint), max_bytes=10)
    with pytest.raises(BlobTooLarge):
        await small.put("clips/big.mp4", bytes(11), "video/mp4")


async def test_s3_missing_bucket_says_so(s3_endpoint: str) -> None:
    store = S3BlobStore("reelbot-no-such-bucket", client=s3_client(s3_endpoint))

    with pytest.raises(StorageError, match="does not exist") as caught:
        await store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")

    assert not isinstance(caught.value, BlobNotFound)


async def test_unreachable_s3_is_a_storage_error_that_names_the_endpoint(bucket: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    client = s3_client(endpoint, retries={"max_attempts": 1}, connect_timeout=2)
    store = S3BlobStore(bucket, client=client)

    with pytest.raises(StorageError, match=f"cannot reach S3 at {endpoint}"):
        await store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")
    with pytest.raises(StorageError, match="cannot reach S3") as caught:
        await store.get(f"s3://{bucket}/clips/j0b1d2.mp4")
    assert not isinstance(caught.value, BlobNotFound)


async def test_an_s3_endpoint_with_credentials_in_it_never_shows_them(bucket: str) -> None:
    endpoint = f"http://minio-user:s3cr3tKEY@127.0.0.1:{closed_port()}"
    client = s3_client(endpoint, retries={"max_attempts": 1}, connect_timeout=2)
    store = S3BlobStore(bucket, client=client)

    with pytest.raises(StorageError, match=r"cannot reach S3 at http://\*\*\*@127\.0\.0\.1") as caught:
        await store.put("clips/j0b1d2.mp4", PAYLOAD, "video/mp4")
    assert "s3cr3tKEY" not in str(caught.value) and "minio-user" not in str(caught.value)


def test_credentials_in_the_s3_endpoint_setting_are_refused_without_showing_them() -> None:
    url = "https://AKIAFAKEFAKEFAKEFAKE:s3cr3t/KEY@minio.example:9000"
    with pytest.raises(ValueError, match="REELBOT_S3_ENDPOINT_URL holds credentials") as caught:
        WorkerSettings.from_env({"REELBOT_S3_ENDPOINT_URL": url})
    assert "s3cr3t" not in str(caught.value) and "AKIA" not in str(caught.value)
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)
    assert WorkerSettings.from_env({"REELBOT_S3_ENDPOINT_URL": "https://minio.example:9000"}).s3_endpoint_url
