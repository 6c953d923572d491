"""BedrockDouble: a fake Amazon Bedrock Runtime (Converse, ApplyGuardrail) that real boto3 talks to.

Real: the rest-json wire format of the ``bedrock-runtime`` service model in the installed botocore
(request paths, body members, base64 blobs, response shapes); errors as the service sends them, an
``x-amzn-ErrorType`` header plus ``{"message": ...}`` (botocore's rest-json parser takes the error
code from that header, then from ``code`` in the body; the header is what makes
``ClientError.response["Error"]["Code"]`` the exception's name and lets the retry handler see
``ThrottlingException``); a request id on every reply. Simplified: any SigV4-looking
``Authorization`` header is accepted (the signature is not checked); replies are scripted, not
generated; only text and image content blocks are played, and other members the service accepts
(tools, documents, guardrailConfig, ...) are refused with a 400 and noted in ``violations``.

Script outcomes before the call; each one is used by exactly one request, in order::

    double.reply("a neon city at dusk", stop_reason="max_tokens")   # next Converse reply text
    double.fail_next(429, "ThrottlingException", "Too many requests", times=2)
    double.delay_next(2.0)          # hold the next request this long, then answer it normally
    double.malformed_next("not_json")   # or "missing_output", "empty_output"
    double.verdict("GUARDRAIL_INTERVENED", "[blocked]")            # next ApplyGuardrail verdict

Faults (``fail_next``, ``delay_next``, ``malformed_next``) apply to the next request of either
operation; ``reply`` and ``verdict`` are per operation. With nothing scripted, Converse answers
``default_text`` and ApplyGuardrail answers ``NONE``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
MAX_IMAGE_BYTES = 3_750_000  # the service's per-image limit ("no more than 3.75 MB")
# the service sends "<type>:<namespace URL>"; botocore keeps the part before the first colon
ERROR_TYPE_SUFFIX = "http://internal.amazon.com/coral/com.amazon.bedrock/"
MALFORMED_KINDS = ("not_json", "missing_output", "empty_output")
# request members the real service accepts but this double does not play
UNPLAYED_MEMBERS = (
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "promptVariables",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "serviceTier",
    "outputConfig",
)
GUARDRAIL_USAGE = {
    "topicPolicyUnits": 1,
    "contentPolicyUnits": 1,
    "wordPolicyUnits": 1,
    "sensitiveInformationPolicyUnits": 1,
    "sensitiveInformationPolicyFreeUnits": 0,
    "contextualGroundingPolicyUnits": 0,
}


class Rejected(Exception):
    """A request the real service would refuse: ``status``, error type and message."""

    def __init__(self, message: str, status: int = 400, error_type: str = "ValidationException") -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


@dataclass
class RecordedRequest:
    """One request as the double saw it (``body`` is ``None`` when it was not JSON)."""

    operation: str
    path: str
    headers: dict[str, str]
    body: Any
    model_id: str | None = None
    guardrail: tuple[str, str] | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Fault:
    """A scripted outcome for one request: an error, a delay or a malformed 200 body."""

    status: int = 0
    error_type: str = ""
    message: str = ""
    delay: float = 0.0
    malformed: str = ""


class BedrockDouble:
    """A fake bedrock-runtime endpoint on a free loopback port.

    Args:
        default_text: the Converse reply text when none is scripted.
        known_models: when given, other model ids get the service's "invalid model identifier" 400.
    """

    def __init__(self, *, default_text: str = "an enhanced prompt", known_models: set[str] | None = None):
        self.default_text = default_text
        self.known_models = known_models
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.rejections: list[str] = []
        self._faults: deque[Fault] = deque()
        self._replies: deque[tuple[str, str]] = deque()
        self._verdicts: deque[tuple[str, str | None]] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.endpoint_url = ""

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/model/{model_id}/converse", self._converse)
        app.router.add_post("/guardrail/{guardrail_id}/version/{version}/apply", self._apply_guardrail)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        # a short shutdown: a delayed handler is woken by _closing, nothing else lingers
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.endpoint_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Wake delayed requests and close the server."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BedrockDouble:
        """Start the double."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the double."""
        await self.stop()

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client("bedrock-runtime", ...)`` aimed at this double."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": "us-east-1",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }

    # -- scripting ----------------------------------------------------------------------------------

    def reply(self, text: str, stop_reason: str = "end_turn") -> None:
        """Queue the text (and stop reason, e.g. ``end_turn`` or ``max_tokens``) of a Converse reply."""
        self._replies.append((text, stop_reason))

    def verdict(self, action: str = "NONE", text: str | None = None) -> None:
        """Queue an ApplyGuardrail verdict (``NONE`` or ``GUARDRAIL_INTERVENED``) and its output text."""
        if action not in ("NONE", "GUARDRAIL_INTERVENED"):
            raise ValueError(f"action is {action!r}; use 'NONE' or 'GUARDRAIL_INTERVENED'")
        self._verdicts.append((action, text))

    def fail_next(self, status: int, error_type: str, message: str = "", *, times: int = 1) -> None:
        """Answer the next ``times`` requests with an error, e.g. ``(429, "ThrottlingException")``."""
        for _ in range(times):
            self._faults.append(Fault(status=status, error_type=error_type, message=message or error_type))

    def delay_next(self, seconds: float) -> None:
        """Hold the next request ``seconds`` before answering it (longer than a read timeout: a timeout)."""
        self._faults.append(Fault(delay=seconds))

    def malformed_next(self, kind: str = "not_json") -> None:
        """Answer the next request with a broken 200: ``not_json``, ``missing_output`` or ``empty_output``."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind is {kind!r}; use one of {', '.join(MALFORMED_KINDS)}")
        self._faults.append(Fault(malformed=kind))

    # -- handlers -----------------------------------------------------------------------------------

    async def _converse(self, request: web.Request) -> web.StreamResponse:
        model_id = request.match_info["model_id"]
        recorded = await self._record(request, "Converse", model_id=model_id)
        return await self._answer(recorded, lambda: self._converse_reply(recorded))

    async def _apply_guardrail(self, request: web.Request) -> web.StreamResponse:
        guardrail = (request.match_info["guardrail_id"], request.match_info["version"])
        recorded = await self._record(request, "ApplyGuardrail", guardrail=guardrail)
        return await self._answer(recorded, lambda: self._guardrail_reply(recorded))

    async def _unknown(self, request: web.Request) -> web.Response:
        self.violations.append(f"{request.method} {request.path}: no such bedrock-runtime operation")
        return error_response(404, "UnknownOperationException", f"No route for {request.path}")

    async def _record(self, request: web.Request, operation: str, **where: Any) -> RecordedRequest:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(operation, request.path, dict(request.headers), body, **where)
        self.requests.append(recorded)
        return recorded

    async def _answer(self, recorded: RecordedRequest, build: Callable[[], Any]) -> web.StreamResponse:
        try:
            check_auth(recorded.headers)
            if recorded.operation == "Converse":
                self._check_converse(recorded)
            else:
                check_guardrail(recorded)
        except Rejected as exc:
            self.rejections.append(f"{recorded.operation}: {exc}")
            return error_response(exc.status, exc.error_type, str(exc))
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            # woken early by stop(), so that shutting down never waits out a long delay
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay)
            fault = None
        if fault is not None and fault.status:
            return error_response(fault.status, fault.error_type, fault.message)
        if fault is not None and fault.malformed:
            return malformed_response(fault.malformed)
        return json_response(200, build())

    # -- Converse -----------------------------------------------------------------------------------

    def _check_converse(self, recorded: RecordedRequest) -> None:
        if self.known_models is not None and recorded.model_id not in self.known_models:
            raise Rejected("The provided model identifier is invalid.")
        body = recorded.body
        if not isinstance(body, dict):
            raise Rejected("The request body must be a JSON object.")
        for member in UNPLAYED_MEMBERS:
            if member in body:
                self.violations.append(f"Converse: the double does not play {member!r}")
                raise Rejected(f"{member} is not supported by the test double.")
        unknown = set(body) - {"messages", "system", "inferenceConfig", *UNPLAYED_MEMBERS}
        if unknown:
            raise Rejected(f"Unknown request members: {', '.join(sorted(unknown))}.")
        recorded.images = check_messages(body.get("messages"))
        check_system(body.get("system"))
        check_inference_config(body.get("inferenceConfig"))

    def _converse_reply(self, recorded: RecordedRequest) -> dict[str, Any]:
        text, stop_reason = self._replies.popleft() if self._replies else (self.default_text, "end_turn")
        input_tokens = max(1, len(json.dumps(recorded.body)) // 4)
        output_tokens = max(1, len(text) // 4)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 42},
        }

    # -- ApplyGuardrail -----------------------------------------------------------------------------

    def _guardrail_reply(self, recorded: RecordedRequest) -> dict[str, Any]:
        action, text = self._verdicts.popleft() if self._verdicts else ("NONE", None)
        outputs: list[dict[str, str]] = []
        assessments: list[dict[str, Any]] = [{}]
        if action == "GUARDRAIL_INTERVENED":
            outputs = [{"text": text if text is not None else "Sorry, the model cannot answer this."}]
            assessments = [
                {
                    "contentPolicy": {
                        "filters": [
                            {"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED", "detected": True}
                        ]
                    }
                }
            ]
        return {"usage": GUARDRAIL_USAGE, "action": action, "outputs": outputs, "assessments": assessments}


# -- request checks ---------------------------------------------------------------------------------


def check_auth(headers: dict[str, str]) -> None:
    """A SigV4 Authorization header scoped to the bedrock signing name (the signature is not checked)."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 ") or "/bedrock/aws4_request" not in auth:
        raise Rejected("Missing Authentication Token", 403, "AccessDeniedException")


def check_messages(messages: Any) -> list[tuple[str, bytes]]:
    """Validate ``messages`` as the service does; returns the decoded images (format, bytes)."""
    if not isinstance(messages, list) or not messages:
        raise Rejected("messages is required and must be a non-empty list.")
    images: list[tuple[str, bytes]] = []
    previous = None
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise Rejected(f"{where} must have exactly the members role and content.")
        role = message["role"]
        if role not in ("user", "assistant"):
            raise Rejected(f"{where}.role is {role!r}; use 'user' or 'assistant'.")
        if i == 0 and role != "user":
            raise Rejected("A conversation must start with a user message. Try again with a user message.")
        if role == previous:
            raise Rejected("A conversation must alternate between user and assistant roles.")
        previous = role
        content = message["content"]
        if not isinstance(content, list) or not content:
            raise Rejected(f"{where}.content must be a non-empty list of content blocks.")
        for j, block in enumerate(content):
            image = check_block(block, f"{where}.content.{j}", role)
            if image is not None:
                images.append(image)
    return images


def check_block(block: Any, where: str, role: str) -> tuple[str, bytes] | None:
    """One content block: exactly one of ``text`` or ``image``; returns the decoded image if any."""
    if not isinstance(block, dict) or len(block) != 1:
        raise Rejected(f"The ContentBlock object at {where} must set one and only one member.")
    ((kind, value),) = block.items()
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise Rejected(f"The text field in the ContentBlock object at {where} is blank.")
        return None
    if kind != "image":
        raise Rejected(f"The ContentBlock member {kind!r} at {where} is not supported by the test double.")
    if role != "user":
        raise Rejected(f"{where}: images are only allowed in user messages.")
    if not isinstance(value, dict) or set(value) != {"format", "source"}:
        raise Rejected(f"{where}.image must have exactly the members format and source.")
    fmt, source = value["format"], value["source"]
    if fmt not in IMAGE_FORMATS:
        raise Rejected(f"{where}.image.format is {fmt!r}; use one of {', '.join(IMAGE_FORMATS)}.")
    if not isinstance(source, dict) or set(source) != {"bytes"} or not isinstance(source["bytes"], str):
        raise Rejected(f"{where}.image.source must be {{'bytes': <base64 string>}}.")
    try:
        data = base64.b64decode(source["bytes"], validate=True)
    except binascii.Error as exc:
        raise Rejected(f"{where}.image.source.bytes is not valid base64.") from exc
    if not data or len(data) > MAX_IMAGE_BYTES:
        raise Rejected(f"{where}: the image is {len(data)} bytes; send 1 to {MAX_IMAGE_BYTES} bytes.")
    return fmt, data


def check_system(system: Any) -> None:
    """Optional ``system``: a list of ``{"text": non-empty str}``."""
    if system is None:
        return
    if not isinstance(system, list):
        raise Rejected("system must be a list of system content blocks.")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or set(block) != {"text"}:
            raise Rejected(f"system.{i} must be {{'text': <string>}} (the double plays text only).")
        if not isinstance(block["text"], str) or not block["text"]:
            raise Rejected(f"system.{i}.text must be a non-empty string.")


def check_inference_config(config: Any) -> None:
    """Optional ``inferenceConfig`` within the service model's bounds."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise Rejected("inferenceConfig must be an object.")
    unknown = set(config) - {"maxTokens", "temperature", "topP", "stopSequences"}
    if unknown:
        raise Rejected(f"Unknown inferenceConfig members: {', '.join(sorted(unknown))}.")
    max_tokens = config.get("maxTokens", 1)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise Rejected(f"inferenceConfig.maxTokens is {max_tokens!r}; use an integer of at least 1.")
    for name in ("temperature", "topP"):
        value = config.get(name, 0.5)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise Rejected(f"inferenceConfig.{name} is {value!r}; use a number from 0 to 1.")
    stops = config.get("stopSequences", [])
    if not isinstance(stops, list) or len(stops) > 2500 or not all(isinstance(s, str) and s for s in stops):
        raise Rejected("inferenceConfig.stopSequences must be a list of at most 2500 non-empty strings.")


def check_guardrail(recorded: RecordedRequest) -> None:
    """ApplyGuardrail: ``source`` INPUT/OUTPUT and a non-empty list of ``{"text": {"text": str}}``."""
    body = recorded.body
    if not isinstance(body, dict):
        raise Rejected("The request body must be a JSON object.")
    if body.get("source") not in ("INPUT", "OUTPUT"):
        raise Rejected(f"source is {body.get('source')!r}; use 'INPUT' or 'OUTPUT'.")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        raise Rejected("content must be a non-empty list of guardrail content blocks.")
    for i, block in enumerate(content):
        text = block.get("text") if isinstance(block, dict) else None
        if set(block if isinstance(block, dict) else {}) != {"text"} or not isinstance(text, dict):
            raise Rejected(
                f"content.{i} must be {{'text': {{'text': <string>}}}} (the double plays text only)."
            )
        if not isinstance(text.get("text"), str):
            raise Rejected(f"content.{i}.text.text must be a string.")


# -- responses --------------------------------------------------------------------------------------


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON reply with a request id, as every bedrock-runtime reply carries."""
    all_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
    return web.json_response(body, status=status, headers=all_headers)


def error_response(status: int, error_type: str, message: str) -> web.Response:
    """An error the way the service sends it: the type in ``x-amzn-ErrorType``, the message in the body."""
    return json_response(
        status, {"message": message}, {"x-amzn-ErrorType": f"{error_type}:{ERROR_TYPE_SUFFIX}"}
    )


def malformed_response(kind: str) -> web.Response:
    """A 200 whose body a client cannot use."""
    if kind == "not_json":
        return web.Response(
            status=200,
            text="<html>upstream hiccup</html>",
            content_type="application/json",
            headers={"x-amzn-RequestId": str(uuid.uuid4())},
        )
    if kind == "missing_output":
        return json_response(200, {"stopReason": "end_turn", "metrics": {"latencyMs": 1}})
    # the output union with no member set: botocore refuses it
    return json_response(200, {"output": {}, "stopReason": "end_turn", "metrics": {"latencyMs": 1}})


# -- running beside synchronous code ----------------------------------------------------------------


@contextmanager
def serve_in_thread(double: BedrockDouble | None = None, *, timeout: float = 10.0) -> Iterator[BedrockDouble]:
    """Run a double on its own event loop in a daemon thread, for synchronous boto3 callers.

    Args:
        double: the double to run (a fresh one when omitted).
        timeout: seconds to wait for it to start or stop.

    Raises:
        TimeoutError: the server did not start in time.
    """
    double = double or BedrockDouble()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bedrock-double", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(double.start(), loop).result(timeout)
        yield double
    finally:
        started = time.monotonic()
        try:
            asyncio.run_coroutine_threadsafe(double.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(max(0.0, timeout - (time.monotonic() - started)))
            loop.close()
