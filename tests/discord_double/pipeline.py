"""The REST request pipeline: route, record, authenticate, inject faults, parse, validate, serve.

Every error the double produces on its own (not an injected fault) is a rule the bot broke, so it
is appended to ``violations`` as well as returned in Discord's JSON error shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from .faults import Fault, bucket_headers, fault_response
from .messages import Upload
from .routing import Call, Route, Router
from .rules import DiscordError, schema_error
from .spec import SpecValidator
from .world import Clock, RecordedRequest

API_PREFIX = "/api/v10"
JSON = "application/json"
MULTIPART = "multipart/form-data"


@dataclass
class Pipeline:
    """Serves ``/api/v10/...`` requests for one double."""

    router: Router
    spec: SpecValidator
    token: str
    clock: Clock
    violations: list[str]
    requests: list[RecordedRequest]
    take_fault: Callable[[str, str, str | None], Fault | None]
    #: called with each request the double served (test hooks)
    after: Callable[[RecordedRequest], None] = lambda record: None

    async def serve(self, request: web.Request) -> web.Response:
        """Handle one REST request end to end."""
        method, path = request.method, request.path[len(API_PREFIX) :]
        found = self.router.match(method, path)
        template = found[0].template if found else None
        record = RecordedRequest(method, path, dict(request.query), template, None, [], self.clock.now())
        self.requests.append(record)
        headers = bucket_headers(method, template, self.clock.now())
        try:
            if found is None:
                allowed = self.router.allows(path)
                status = 405 if allowed else 404
                raise DiscordError(status, 0, violation=f"{method} {path}: no such Discord route")
            route, params = found
            self._authenticate(request, route, method, path)
            fault = self.take_fault(method, path, template)
            if fault is not None:
                status, body, headers = fault_response(fault, method, template, self.clock.now())
                return self._reply(record, status, body, headers)
            call = Call(method, path, route.template, params, dict(request.query))
            await self._read_body(request, call, record)
            self._validate(call, request.content_type)
            status, body = await route.handler(call)
        except DiscordError as error:
            if error.violation:
                self.violations.append(error.violation)
            return self._reply(record, error.status, error.body(), headers)
        reply = self._reply(record, status, body, headers)
        self.after(record)
        return reply

    def _authenticate(self, request: web.Request, route: Route, method: str, path: str) -> None:
        """Bot routes need ``Authorization: Bot <token>``; webhook-token routes need nothing."""
        if not route.bot_auth:
            return
        header = request.headers.get("Authorization")
        if header != f"Bot {self.token}":
            got = "no Authorization header" if header is None else "a wrong Authorization header"
            raise DiscordError(
                401, 0, "401: Unauthorized", violation=f"{method} {path}: {got} (need 'Bot <token>')"
            )

    async def _read_body(self, request: web.Request, call: Call, record: RecordedRequest) -> None:
        """Parse a JSON or multipart body into ``call.body`` and ``call.uploads``."""
        if not request.body_exists:
            return
        where = f"{call.method} {call.path}"
        if request.content_type == JSON:
            raw = await request.read()
            try:
                call.body = json.loads(raw) if raw else None
            except ValueError as exc:
                raise DiscordError(
                    400, 50109, "The request body contains invalid JSON.", violation=f"{where}: {exc}"
                ) from exc
        elif request.content_type == MULTIPART:
            call.body, call.uploads = await self._read_multipart(request, where)
        else:
            raise DiscordError(
                400, 0, violation=f"{where}: unsupported Content-Type {request.content_type!r}"
            )
        record.json = call.body
        record.files = [{"field": u.field, "filename": u.filename, "size": len(u.data)} for u in call.uploads]

    async def _read_multipart(self, request: web.Request, where: str) -> tuple[Any, list[Upload]]:
        """``payload_json`` plus ``files[n]`` parts, as discord.py sends them."""
        body: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                raise DiscordError(400, 0, violation=f"{where}: nested multipart is not supported")
            if part.name == "payload_json":
                try:
                    body = json.loads(await part.text())
                except ValueError as exc:
                    raise DiscordError(
                        400, 50109, violation=f"{where}: payload_json is not JSON: {exc}"
                    ) from exc
            elif part.filename is not None:
                data = await part.read(decode=False)
                uploads.append(
                    Upload(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(data))
                )
            else:
                self.violations.append(f"{where}: unexpected multipart field {part.name!r}; use payload_json")
        return body, uploads

    def _validate(self, call: Call, content_type: str) -> None:
        """Check the body against the operation's schema in the OpenAPI spec."""
        if call.body is None:  # no body, or a multipart request of files only
            return
        accepted = self.spec.body_content_types(call.method, call.template)
        if not accepted:
            raise DiscordError(
                400, 50035, violation=f"{call.method} {call.path}: this operation takes no body, got one"
            )
        if content_type not in accepted:
            raise DiscordError(
                400,
                50035,
                violation=f"{call.method} {call.path}: Content-Type {content_type} not in {accepted}",
            )
        problems = self.spec.validate(call.method, call.template, content_type, call.body)
        if problems:
            raise schema_error(call.method, call.path, problems[0])

    def _reply(
        self, record: RecordedRequest, status: int, body: Any, headers: dict[str, str]
    ) -> web.Response:
        """Finish the record and build the response."""
        record.status = status
        if status == 204 or body is None:
            return web.Response(status=status, headers=headers)
        # exactly "application/json" (no charset): discord.py compares the header verbatim
        return web.Response(
            status=status, body=json.dumps(body).encode(), headers={**headers, "Content-Type": JSON}
        )
