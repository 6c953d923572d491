"""Clip and image storage behind one interface, :class:`BlobStore`.

Two backends:

* :class:`RedisBlobStore` keeps each blob in the queue's Redis under ``Keys.blob(name)``,
  with a TTL. It needs nothing beyond the Redis the queue already uses, so choose it for one
  machine or a small deployment. Blobs cost Redis memory until they expire (a 6-second
  720x480 clip is a few MiB) and there are no links: the bot reads the bytes and uploads them
  to Discord as an attachment.
* :class:`S3BlobStore` keeps blobs in an S3 (or S3-compatible) bucket and hands out presigned
  HTTPS links, so the bot can post a link to a clip too large to attach. Choose it for
  several workers, large clips, or when Redis memory is tight. How long objects live is the
  bucket's lifecycle rule, not a per-object setting.

A stored blob is named by an opaque reference (``StoredBlob.ref``) that goes into job
records: ``redis:<namespace>/<name>`` or ``s3://<bucket>/<key>``. A store refuses a
reference that belongs to another backend, namespace or bucket rather than reading it as
missing, so a misconfigured bot or worker fails loudly.

Errors::

    StorageError           the backend cannot be reached or refused; the message says what to check
    ├── BlobNotFound       the blob expired or was deleted
    └── BlobTooLarge       the blob is over the store's max_bytes
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar, cast

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inference.contract import Keys
from inference.jobqueue.connection import connect
from inference.jobqueue.settings import QueueSettings, redact_url, redact_urls
from inference.settings import WorkerSettings

DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
#: Redis refuses string values over 512 MiB
REDIS_MAX_BYTES: Final = 512 * 1024 * 1024
#: SigV4 presigned links last at most 7 days
MAX_LINK_SECONDS: Final = 7 * 24 * 3600

_NAME = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;[ -~]*)?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REDIS_SCHEME: Final = "redis:"
_S3_SCHEME: Final = "s3://"

T = TypeVar("T")


class StorageError(Exception):
    """The store cannot keep or return a blob; the message says what to check."""


class BlobNotFound(StorageError):
    """The blob expired or was deleted."""


class BlobTooLarge(StorageError):
    """The blob is over the store's size limit; nothing was stored."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """Where a blob was stored."""

    ref: str  # opaque; goes into job records: "redis:<namespace>/<name>" or "s3://<bucket>/<key>"
    size: int
    content_type: str


class BlobStore(Protocol):
    """Stores clips and images by name and returns them by reference."""

    async def put(self, name: str, data: bytes, content_type: str) -> StoredBlob:
        """Store ``data`` as ``name`` (e.g. ``clips/<job_id>.mp4``), replacing any blob of that name.

        Raises:
            ValueError: the name or content type is invalid (see :func:`check_name`).
            BlobTooLarge: ``data`` is over the store's ``max_bytes``; nothing was stored.
            StorageError: the backend cannot be reached or refused the write.
        """
        ...

    async def get(self, ref: str) -> bytes:
        """Return the bytes of a stored blob.

        Raises:
            BlobNotFound: the blob expired or was deleted.
            StorageError: ``ref`` is not this store's, or the backend cannot be reached.
        """
        ...

    async def url(self, ref: str, expires_seconds: int = 3600) -> str | None:
        """A presigned HTTPS link to the blob, or ``None`` when the backend has no links.

        Raises:
            ValueError: ``expires_seconds`` is out of the backend's range.
            StorageError: ``ref`` is not this store's, or the link cannot be signed.
        """
        ...

    async def delete(self, ref: str) -> None:
        """Delete a blob; one that is already gone is not an error.

        Raises:
            StorageError: ``ref`` is not this store's, or the backend cannot be reached.
        """
        ...

    async def aclose(self) -> None:
        """Release the connections the store opened itself."""
        ...


def check_name(name: str) -> None:
    """Check a blob name.

    Raises:
        ValueError: the name is not 1-200 letters, digits, ``. _ - /``, or it has ``..``,
            a leading ``/`` or an empty path segment.
    """
    if not _NAME.match(name) or ".." in name or name.startswith("/") or "//" in name:
        raise ValueError(
            f"blob name {name!r} is invalid: use 1-200 letters, digits, . _ - and /, "
            "without '..', a leading '/' or '//' (e.g. 'clips/<job_id>.mp4')"
        )


def _check_put(name: str, data: bytes, content_type: str, max_bytes: int) -> None:
    check_name(name)
    if not _CONTENT_TYPE.match(content_type):
        raise ValueError(f"content type {content_type!r} is invalid: use a MIME type such as 'video/mp4'")
    if len(data) > max_bytes:
        raise BlobTooLarge(
            f"{name} is {_size(len(data))}, over this store's limit of {_size(max_bytes)}: "
            "render a shorter or smaller clip, or raise max_bytes"
        )


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count} bytes"


# ----------------------------------------------------------------------------- Redis


class RedisBlobStore:
    """Blobs in the queue's Redis, each under ``Keys.blob(name)`` with a TTL.

    The client must be created without ``decode_responses`` (blobs are binary); the
    constructor raises ValueError for one that decodes, or for a limit out of range.
    """

    def __init__(
        self, redis: Redis, keys: Keys, ttl_seconds: int, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError(
                "this Redis client decodes responses, which would corrupt binary blobs: "
                "create it with decode_responses=False, or use RedisBlobStore.from_url"
            )
        if ttl_seconds < 1:
            raise ValueError(
                f"ttl_seconds {ttl_seconds} is out of range: every blob must expire, use 1 or more"
            )
        if not 1 <= max_bytes <= REDIS_MAX_BYTES:
            raise ValueError(
                f"max_bytes {max_bytes} is out of range: use 1 to {REDIS_MAX_BYTES} (Redis's limit)"
            )
        self._redis, self._keys = redis, keys
        self.ttl_seconds, self.max_bytes = ttl_seconds, max_bytes
        self._owns_client = False

    @classmethod
    def from_url(
        cls, url: str, keys: Keys, ttl_seconds: int, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> RedisBlobStore:
        """A store with its own binary client for ``url``; :meth:`aclose` closes it."""
        # a short retry across a Redis restart; beyond that the job fails with a message
        client = connect(url, binary=True, retries=3)
        store = cls(client, keys, ttl_seconds, max_bytes)
        store._owns_client = True
        return store

    async def put(self, name: str, data: bytes, content_type: str) -> StoredBlob:
        """Store a blob that expires after ``ttl_seconds`` (see :meth:`BlobStore.put`)."""
        _check_put(name, data, content_type, self.max_bytes)
        try:
            await self._redis.set(self._keys.blob(name), data, ex=self.ttl_seconds)
        except RedisError as exc:
            raise self._error("store", name, exc) from exc
        ref = f"{_REDIS_SCHEME}{self._keys.namespace}/{name}"
        return StoredBlob(ref=ref, size=len(data), content_type=content_type)

    async def get(self, ref: str) -> bytes:
        """Return a blob's bytes (see :meth:`BlobStore.get`)."""
        name = self._name(ref)
        try:
            value = await self._redis.get(self._keys.blob(name))
        except RedisError as exc:
            raise self._error("read", name, exc) from exc
        if value is None:
            raise BlobNotFound(
                f"blob {ref} is gone: it expired (blobs live {self.ttl_seconds} s) or was deleted"
            )
        return cast(bytes, value)  # __init__ refused a client that would return str

    async def url(self, ref: str, expires_seconds: int = 3600) -> str | None:
        """Always ``None``: Redis has no links, so read the bytes with :meth:`get`."""
        self._name(ref)
        return None

    async def delete(self, ref: str) -> None:
        """Delete a blob (see :meth:`BlobStore.delete`)."""
        name = self._name(ref)
        try:
            await self._redis.delete(self._keys.blob(name))
        except RedisError as exc:
            raise self._error("delete", name, exc) from exc

    async def aclose(self) -> None:
        """Close the client if :meth:`from_url` created it."""
        if self._owns_client:
            await self._redis.aclose()

    def _name(self, ref: str) -> str:
        if not ref.startswith(_REDIS_SCHEME):
            raise StorageError(
                f"{ref!r} is not a Redis blob reference: this process stores blobs in Redis, "
                "so the bot and the workers must use the same REELBOT_STORAGE"
            )
        namespace, _, name = ref.removeprefix(_REDIS_SCHEME).partition("/")
        if namespace != self._keys.namespace:
            raise StorageError(
                f"blob {ref!r} belongs to namespace {namespace!r}, not {self._keys.namespace!r}: "
                "the bot and the workers must use the same REELBOT_NAMESPACE"
            )
        try:
            check_name(name)
        except ValueError as exc:
            raise StorageError(f"blob reference {ref!r} is malformed: {exc}") from exc
        return name

    @staticmethod
    def _error(action: str, name: str, exc: RedisError) -> StorageError:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            return StorageError(
                f"cannot reach Redis to {action} blob {name}: {redact_urls(str(exc))}. "
                "Is it running, and is REDIS_URL right?"
            )
        return StorageError(
            f"Redis refused to {action} blob {name}: {redact_urls(str(exc))}. If it is out of memory, "
            "keep blobs for less time or store them in S3 (REELBOT_STORAGE=s3)."
        )


# -------------------------------------------------------------------------------- S3


class S3BlobStore:
    """Blobs as objects in an S3 bucket, with presigned links.

    How long objects live is the bucket's lifecycle rule (expire the prefix after a few
    days); this store never sets a lifetime per object. boto3 is synchronous, so every call
    runs in a thread.

    Args:
        bucket: the bucket's name (``REELBOT_S3_BUCKET``).
        prefix: a folder for every key, e.g. ``"reelbot/"`` (a missing final ``/`` is added).
        client: a boto3 S3 client to use, which :meth:`aclose` leaves open; by default the
            store builds one from boto3's credential chain, ``region`` and ``endpoint_url``.
        region: the bucket's region, when building a client.
        endpoint_url: an S3-compatible endpoint (MinIO, R2, ...), when building a client.
        max_bytes: the largest blob :meth:`put` accepts.

    Raises:
        ValueError: the bucket or prefix is invalid, or ``client`` comes with a region or endpoint.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not _BUCKET.match(bucket):
            raise ValueError(
                f"S3 bucket name {bucket!r} is invalid: use 3-63 lowercase letters, digits, . and - "
                "(REELBOT_S3_BUCKET)"
            )
        if prefix:
            prefix = prefix.rstrip("/") + "/"
            check_name(prefix[:-1])
        if max_bytes < 1:
            raise ValueError(f"max_bytes {max_bytes} is out of range: use 1 or more")
        if client is not None and (region or endpoint_url):
            raise ValueError("pass either a client, or region and endpoint_url to build one; not both")
        self.bucket, self.prefix, self.max_bytes = bucket, prefix, max_bytes
        self._owns_client = client is None
        self._client = client if client is not None else _build_client(region, endpoint_url)

    async def put(self, name: str, data: bytes, content_type: str) -> StoredBlob:
        """Upload a blob as ``<prefix><name>`` (see :meth:`BlobStore.put`)."""
        _check_put(name, data, content_type, self.max_bytes)
        key = self.prefix + name
        upload = self._client.put_object
        await self._call(
            "upload", key, upload, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )
        return StoredBlob(ref=f"{_S3_SCHEME}{self.bucket}/{key}", size=len(data), content_type=content_type)

    async def get(self, ref: str) -> bytes:
        """Download a blob (see :meth:`BlobStore.get`)."""
        key = self._key(ref)
        data: bytes = await self._call("download", key, self._read, key)
        return data

    async def url(self, ref: str, expires_seconds: int = 3600) -> str:
        """A presigned GET link valid 1 s to 7 days (see :meth:`BlobStore.url`).

        Signing makes no request, so a link is made even for an object that is gone.
        """
        key = self._key(ref)
        if not 1 <= expires_seconds <= MAX_LINK_SECONDS:
            raise ValueError(
                f"expires_seconds {expires_seconds} is out of range: use 1 to {MAX_LINK_SECONDS}"
            )
        sign, params = self._client.generate_presigned_url, {"Bucket": self.bucket, "Key": key}
        link: str = await self._call(
            "sign a link to", key, sign, "get_object", Params=params, ExpiresIn=expires_seconds
        )
        return link

    async def delete(self, ref: str) -> None:
        """Delete a blob (see :meth:`BlobStore.delete`)."""
        key = self._key(ref)
        await self._call("delete", key, self._client.delete_object, Bucket=self.bucket, Key=key)

    async def aclose(self) -> None:
        """Close the client if this store built it."""
        if self._owns_client:
            await asyncio.to_thread(self._client.close)

    def _read(self, key: str) -> bytes:
        response = self._client.get_object(Bucket=self.bucket, Key=key)
        with response["Body"] as body:
            data: bytes = body.read()
        return data

    def _key(self, ref: str) -> str:
        bucket, _, key = ref.removeprefix(_S3_SCHEME).partition("/")
        if not ref.startswith(_S3_SCHEME) or bucket != self.bucket or not key.startswith(self.prefix):
            raise StorageError(
                f"{ref!r} is not a blob of s3://{self.bucket}/{self.prefix}: the bot and the workers "
                "must use the same REELBOT_STORAGE, REELBOT_S3_BUCKET and prefix"
            )
        try:
            check_name(key.removeprefix(self.prefix))
        except ValueError as exc:
            raise StorageError(f"blob reference {ref!r} is malformed: {exc}") from exc
        return key

    async def _call(self, action: str, key: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(action, key, exc) from exc

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        where = f"s3://{self.bucket}/{key}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket":
                return StorageError(
                    f"S3 bucket {self.bucket!r} does not exist: create it, "
                    "or fix REELBOT_S3_BUCKET and the region"
                )
            if code in ("NoSuchKey", "NotFound", "404"):
                return BlobNotFound(
                    f"{where} is gone: the bucket's lifecycle rule expired it, or it was deleted"
                )
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
                return StorageError(
                    f"S3 refused to {action} {where} ({code}): check the credentials, and that their policy "
                    f"allows s3:GetObject, s3:PutObject and s3:DeleteObject on arn:aws:s3:::{self.bucket}/*"
                )
            return StorageError(f"S3 could not {action} {where}: {code} {error.get('Message', '')}".rstrip())
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return StorageError(
                f"no AWS credentials to {action} {where}: give the worker an IAM role, "
                "or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if isinstance(exc, BotoConnectionError | HTTPClientError):
            return StorageError(
                f"cannot reach S3 at {redact_url(self._client.meta.endpoint_url)} to {action} {where}: "
                f"{redact_urls(str(exc))}. Check the endpoint URL, the region and the network."
            )
        return StorageError(f"S3 could not {action} {where}: {redact_urls(str(exc))}")


def _build_client(region: str | None, endpoint_url: str | None) -> Any:
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
        signature_version="s3v4",
    )
    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


# --------------------------------------------------------------------------- factory


def open_store(
    kind: str,
    *,
    redis_url: str,
    keys: Keys,
    ttl_seconds: int,
    bucket: str | None,
    prefix: str,
    region: str | None,
    endpoint_url: str | None,
) -> BlobStore:
    """Open the store a deployment configured.

    Args:
        kind: ``"redis"`` or ``"s3"`` (``REELBOT_STORAGE``).
        redis_url: the queue's Redis, for ``"redis"``.
        keys: the deployment's key builder, for ``"redis"``.
        ttl_seconds: how long a Redis blob lives (S3 uses the bucket's lifecycle rule instead).
        bucket: the S3 bucket (``REELBOT_S3_BUCKET``), required for ``"s3"``.
        prefix: a folder for S3 keys.
        region: the bucket's region, or ``None`` for boto3's default.
        endpoint_url: an S3-compatible endpoint, or ``None`` for AWS.

    Returns:
        The store; close it with ``aclose()``.

    Raises:
        ValueError: the kind is unknown, or ``"s3"`` has no bucket; the message names the setting.
    """
    if kind == "redis":
        return RedisBlobStore.from_url(redis_url, keys, ttl_seconds)
    if kind == "s3":
        if not bucket:
            raise ValueError(
                "REELBOT_STORAGE=s3 needs REELBOT_S3_BUCKET: name the bucket that keeps clips "
                "(its lifecycle rule decides how long they live), or set REELBOT_STORAGE=redis"
            )
        return S3BlobStore(bucket, prefix, region=region, endpoint_url=endpoint_url)
    raise ValueError(f"REELBOT_STORAGE={kind!r} is not a storage backend: use 'redis' or 's3'")


def store_for(worker: WorkerSettings, queue: QueueSettings) -> BlobStore:
    """The clip store a deployment's settings name (the bot and the workers must agree)."""
    return open_store(
        worker.storage,
        redis_url=queue.redis_url,
        keys=queue.keys,
        ttl_seconds=worker.clip_ttl_seconds,
        bucket=worker.s3_bucket or None,
        prefix=worker.s3_prefix,
        region=worker.s3_region or None,
        endpoint_url=worker.s3_endpoint_url or None,
    )
