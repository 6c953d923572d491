"""The gateway: one websocket session for the bot, with HELLO, heartbeats, IDENTIFY, RESUME and dispatches.

Real: opcodes, the READY/GUILD_CREATE/RESUMED sequence, sequence numbers, replay of missed dispatches
on RESUME, INVALID_SESSION when a session cannot resume, close codes 4000/4004/4009.
Simplified: frames are plain-JSON TEXT frames even when the client asks for ``compress=zlib-stream``
or ``zstd-stream`` (discord.py decodes str frames without decompressing); one shard; no presence,
voice or member chunking; heartbeats are answered but never enforced.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

HEARTBEAT_INTERVAL_MS = 41250

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE_STATE = 4
OP_RESUME = 6
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_ERROR = 4000
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_SESSION_TIMED_OUT = 4009


@dataclass
class Session:
    """A gateway session: its id, sequence counter and every dispatch sent (for RESUME)."""

    id: str
    intents: int
    seq: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    resumable: bool = True


class _Connection:
    """One websocket; frames go out in order through a queue drained by a writer task."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: Session | None = None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name="discord-double-gateway-writer")

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame; frames are written in the order queued."""
        self._queue.put_nowait(json.dumps(frame))

    async def _write(self) -> None:
        while (text := await self._queue.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except ConnectionError:
                return

    async def close(self, code: int, message: bytes = b"") -> None:
        """Flush queued frames, then close with ``code``."""
        self._queue.put_nowait(None)
        await asyncio.wait([self._writer], timeout=2)
        if not self.ws.closed:
            await self.ws.close(code=code, message=message)

    def stop(self) -> None:
        """Stop the writer (the socket is already gone)."""
        self._writer.cancel()


class Gateway:
    """The bot's gateway endpoint and session bookkeeping."""

    def __init__(
        self,
        token: str,
        ready_payload: Callable[[Session], dict[str, Any]],
        guild_payloads: Callable[[], list[dict[str, Any]]],
        violation: Callable[[str], None],
    ) -> None:
        self._token = token
        self._ready_payload = ready_payload
        self._guild_payloads = guild_payloads
        self._violation = violation
        self.session: Session | None = None
        self._conn: _Connection | None = None
        self._all: set[_Connection] = set()
        self.ready_count = 0
        self.resume_count = 0
        self.identify_payloads: list[dict[str, Any]] = []

    def connected(self) -> bool:
        """Whether the bot holds a live, identified (or resumed) connection."""
        return self._conn is not None and not self._conn.ws.closed

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one websocket connection until it closes."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
            self._violation(f"gateway: connect with ?v=10&encoding=json, got {request.query_string!r}")
        conn = _Connection(ws)
        self._all.add(conn)
        conn.send({"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type == WSMsgType.BINARY:
                    self._violation("gateway: the bot sent a binary frame; send JSON text")
        finally:
            self._all.discard(conn)
            if self._conn is conn:
                self._conn = None
            conn.stop()
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif op not in (OP_PRESENCE, OP_VOICE_STATE, OP_REQUEST_MEMBERS):
            self._violation(f"gateway: unexpected opcode {op!r}")

    async def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self._token:
            self._violation("gateway: IDENTIFY with a wrong token")
            await conn.close(CLOSE_AUTHENTICATION_FAILED, b"Authentication failed.")
            return
        if conn.session is not None:
            self._violation("gateway: IDENTIFY twice on one connection")
            await conn.close(CLOSE_ALREADY_AUTHENTICATED, b"Already authenticated.")
            return
        self.identify_payloads.append(data)
        session = Session(uuid.uuid4().hex, int(data.get("intents") or 0))
        self.session, conn.session = session, session
        await self._take_over(conn)
        self.ready_count += 1
        self.dispatch("READY", self._ready_payload(session))
        for guild in self._guild_payloads():
            self.dispatch("GUILD_CREATE", guild)

    async def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = self.session
        seq = data.get("seq")
        ok = (
            session is not None
            and session.resumable
            and data.get("session_id") == session.id
            and data.get("token") == self._token
            and isinstance(seq, int)
            and seq <= session.seq
        )
        if not ok or session is None or not isinstance(seq, int):
            conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        conn.session = session
        await self._take_over(conn)
        for frame in session.history:
            if frame["s"] > seq:
                conn.send(frame)
        self.resume_count += 1
        self.dispatch("RESUMED", {})

    async def _take_over(self, conn: _Connection) -> None:
        """Make ``conn`` the bot's connection, closing an older one still open."""
        old, self._conn = self._conn, conn
        if old is not None and old is not conn:
            await old.close(CLOSE_UNKNOWN_ERROR)

    def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send a DISPATCH with the next sequence number; buffered for RESUME while disconnected.

        Raises:
            RuntimeError: the bot has never identified.
        """
        session = self.session
        if session is None:
            raise RuntimeError("the bot has not connected to the gateway yet; start it and wait for READY")
        session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        session.history.append(frame)
        conn = self._conn
        if conn is not None and conn.session is session:
            conn.send(frame)
        return session.seq

    async def drop(self, *, resumable: bool) -> None:
        """Close the bot's websocket: 4000 (resume expected) or 4009 with the session invalidated.

        Raises:
            RuntimeError: no connection to drop.
        """
        conn = self._conn
        if conn is None or self.session is None:
            raise RuntimeError("the bot is not connected to the gateway")
        self._conn = None
        self.session.resumable = resumable
        code = CLOSE_UNKNOWN_ERROR if resumable else CLOSE_SESSION_TIMED_OUT
        await conn.close(code, b"dropped by the test")

    async def close_all(self) -> None:
        """Close every open connection (the double is stopping)."""
        self._conn = None
        for conn in list(self._all):
            await conn.close(1001, b"double stopping")
