"""The one place the bot talks to Amazon Bedrock: boto3's bedrock-runtime Converse, off the event loop.

boto3 is synchronous, so every call runs on a small thread pool of its own (a slow Bedrock
cannot starve the loop's default executor). Timeouts and retries are botocore's: connect and
read timeouts, and its ``standard`` or ``adaptive`` retry mode, which retries throttling,
5xx replies and timeouts with back-off. What is left when the attempts run out is translated
here into :class:`BedrockError`, whose ``kind`` tells the enhancer what to say:

    BedrockError
      kind "unavailable"  no credentials, or Bedrock refused them or the model (403, 401)
      kind "busy"         throttled or the service/model unavailable after every retry
      kind "timeout"      no answer within the read or connect timeout after every retry
      kind "rejected"     the request was refused (a 400: a wrong model id, an image it won't take)
      kind "malformed"    a reply without text, or one that does not parse

Credentials are botocore's default chain (environment, shared files, the ECS task or EC2
instance role); nothing here logs them, and the error messages carry only codes.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

# a plain Exception, not a BotoCoreError: an output union with no member set raises it
from botocore.parsers import ResponseParserError  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

_UNAVAILABLE = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ResourceNotFoundException",
}
_BUSY = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "InternalServerException",
}
_TIMEOUTS = (
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
)


class BedrockError(Exception):
    """A Converse call that did not give an answer; ``kind`` says why (see the module docstring)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


@dataclass(frozen=True, slots=True)
class ConverseReply:
    """The model's text and why it stopped (``end_turn``, ``max_tokens``, ...)."""

    text: str
    stop_reason: str


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How the boto3 client connects: region, endpoint, timeouts and retries."""

    region: str = "us-east-1"
    #: a VPC or local endpoint ("" = the region's public endpoint)
    endpoint_url: str = ""
    connect_timeout: float = 3.0
    read_timeout: float = 20.0
    #: attempts in all, the first one included
    max_attempts: int = 3
    #: botocore's retry mode: "standard" or "adaptive" (client-side rate limiting too)
    retry_mode: str = "standard"
    #: concurrent Bedrock calls (threads)
    threads: int = 8


class BedrockClient:
    """Converse calls on a dedicated thread pool, errors translated to :class:`BedrockError`."""

    def __init__(self, client: Any, threads: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bedrock")

    @classmethod
    async def connect(cls, options: ClientOptions, session: boto3.Session | None = None) -> BedrockClient:
        """A client for ``options``, once credentials are found.

        Looking for credentials may ask the instance metadata service, so it runs off the loop.

        Raises:
            BedrockError: ``unavailable`` when botocore finds no credentials.
        """
        session = session or boto3.Session()
        credentials = await asyncio.to_thread(session.get_credentials)
        if credentials is None:
            raise BedrockError(
                "unavailable",
                "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "a profile, or a task role)",
            )
        config = Config(
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
            max_pool_connections=options.threads,
            user_agent_extra="reelbot",
        )
        kwargs: dict[str, Any] = {"region_name": options.region, "config": config}
        if options.endpoint_url:
            kwargs["endpoint_url"] = options.endpoint_url
        client = await asyncio.to_thread(session.client, "bedrock-runtime", **kwargs)
        return cls(client, options.threads)

    async def converse(
        self,
        model_id: str,
        system: str,
        messages: list[dict[str, Any]],
        inference: dict[str, Any],
    ) -> ConverseReply:
        """One Converse call.

        Raises:
            BedrockError: no usable answer after botocore's retries.
        """
        request = {
            "modelId": model_id,
            "system": [{"text": system}],
            "messages": messages,
            "inferenceConfig": inference,
        }
        return _reply_of(await self._call(self._client.converse, request))

    async def apply_guardrail(self, guardrail_id: str, version: str, text: str) -> list[str]:
        """Ask a Bedrock guardrail about ``text`` (as model input); returns why it intervened, or [].

        Raises:
            BedrockError: no verdict after botocore's retries.
        """
        request = {
            "guardrailIdentifier": guardrail_id,
            "guardrailVersion": version,
            "source": "INPUT",
            "content": [{"text": {"text": text}}],
        }
        response = await self._call(self._client.apply_guardrail, request)
        if response.get("action") != "GUARDRAIL_INTERVENED":
            return []
        return _guardrail_reasons(response.get("assessments") or []) or ["the guardrail intervened"]

    async def _call(self, operation: Any, request: dict[str, Any]) -> Any:
        """Run one boto3 operation on the pool, its errors translated to BedrockError."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: operation(**request))
        except botocore.exceptions.ClientError as exc:
            raise _translate(exc) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise BedrockError("unavailable", "no AWS credentials") from exc
        except _TIMEOUTS as exc:
            raise BedrockError("timeout", type(exc).__name__) from exc
        except ResponseParserError as exc:
            raise BedrockError("malformed", "the reply did not parse") from exc

    def close(self) -> None:
        """Stop the threads (calls in flight finish first)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def _translate(exc: botocore.exceptions.ClientError) -> BedrockError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _UNAVAILABLE or status in (401, 403):
        return BedrockError("unavailable", f"{code or status}: Bedrock refused the call")
    if code in _BUSY or status == 429 or status >= 500:
        return BedrockError("busy", f"{code or status} after every retry")
    return BedrockError("rejected", f"{code or status}: {str(error.get('Message', ''))[:200]}")


def _guardrail_reasons(assessments: list[Any]) -> list[str]:
    """What a guardrail found, as short phrases: ``violence (content)``, ``a denied topic``."""
    reasons: list[str] = []
    for assessment in assessments:
        for item in (assessment.get("contentPolicy") or {}).get("filters", []):
            if item.get("action") == "BLOCKED":
                reasons.append(f"{str(item.get('type', 'content')).lower().replace('_', ' ')} (content)")
        for item in (assessment.get("topicPolicy") or {}).get("topics", []):
            if item.get("action") == "BLOCKED":
                reasons.append(f"the topic {item.get('name', 'denied')}")
        words = assessment.get("wordPolicy") or {}
        if any(
            w.get("action") == "BLOCKED"
            for w in words.get("customWords", []) + words.get("managedWordLists", [])
        ):
            reasons.append("a blocked word")
    return reasons


def _reply_of(response: Any) -> ConverseReply:
    """The text of a Converse response; botocore passes some broken replies through silently."""
    try:
        content = response["output"]["message"]["content"]
    except (KeyError, TypeError) as exc:
        raise BedrockError("malformed", "the reply has no output message") from exc
    text = "".join(block.get("text", "") for block in content if isinstance(block, dict))
    if not text.strip():
        raise BedrockError("malformed", "the reply has no text")
    return ConverseReply(text, str(response.get("stopReason", "")))
