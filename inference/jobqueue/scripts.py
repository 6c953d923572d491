"""Running the queue's Lua scripts, with calls from concurrent tasks sent together.

Two things keep the cost per job low when many tasks use the queue at once:

* every call made in the same turn of the event loop goes out in one pipeline, so a
  worker finishing 64 jobs pays one round trip instead of 64;
* calls to a script that takes many items (enqueue, finish) are merged into one call
  with all the items, so Redis sets the script up once instead of once per job.

Scripts are called by SHA; after a Redis restart (or SCRIPT FLUSH) they are loaded again
and only the calls that Redis refused with NOSCRIPT are re-sent: those did not run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


@dataclass
class _Call:
    """One script call in the next pipeline; ``items`` is set for a merged call."""

    name: str
    args: tuple[Any, ...]
    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    items: list[tuple[Any, ...]] | None = None

    def argv(self) -> list[Any]:
        if self.items is None:
            return list(self.args)
        flat = list(self.args)
        for item in self.items:
            flat.extend(item)
        return flat


class ScriptRunner:
    """Calls named Lua scripts, batching concurrent calls into pipelines."""

    def __init__(self, redis: Redis, sources: Mapping[str, str]) -> None:
        self.redis = redis
        self._sources = dict(sources)
        self._sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in sources.items()}
        self._pending: list[_Call] = []
        self._merged: dict[tuple[str, tuple[Any, ...]], _Call] = {}
        self._in_flight: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def __call__(self, name: str, *args: Any) -> Any:
        """Run script ``name`` with ``args``; returns its reply."""
        fut = self._schedule()
        self._pending.append(_Call(name, args, [fut]))
        return await fut

    async def item(
        self, name: str, header: tuple[Any, ...], item: tuple[Any, ...], max_items: int | None = None
    ) -> Any:
        """Run one item of a many-item script; concurrent items with the same header share
        a call (``max_items`` at most). The script gets ``header`` then every item's
        arguments, and replies with a list holding one reply per item, in order."""
        fut = self._schedule()
        call = self._merged.get((name, header))
        if call is None or (
            max_items is not None and call.items is not None and len(call.items) >= max_items
        ):
            call = self._merged[(name, header)] = _Call(name, header, [], [])
            self._pending.append(call)
        assert call.items is not None
        call.items.append(item)
        call.futures.append(fut)
        return await fut

    def _schedule(self) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
        return loop.create_future()

    def _flush(self) -> None:
        batch, self._pending, self._merged = self._pending, [], {}
        task = asyncio.ensure_future(self._send(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            replies = await self._execute(batch)
        except BaseException as exc:  # connection lost after retries: every caller hears it
            for call in batch:
                for fut in call.futures:
                    if not fut.done():
                        fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for call, reply in zip(batch, replies, strict=True):
            if isinstance(reply, Exception):
                outcomes: list[Any] = [reply] * len(call.futures)
            else:
                outcomes = [reply] if call.items is None else list(reply)
            for fut, outcome in zip(call.futures, outcomes, strict=True):
                if fut.done():  # the caller was cancelled meanwhile
                    continue
                if isinstance(outcome, Exception):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        replies = await self._pipeline(batch)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            for name in {batch[i].name for i in missing}:
                await self.redis.script_load(self._sources[name])
            retried = await self._pipeline([batch[i] for i in missing])
            for i, reply in zip(missing, retried, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        if len(batch) == 1:
            call = batch[0]
            try:
                return [await self.redis.evalsha(self._sha[call.name], 0, *call.argv())]
            except NoScriptError as exc:
                return [exc]
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in batch:
                pipe.evalsha(self._sha[call.name], 0, *call.argv())
            return list(await pipe.execute(raise_on_error=False))


#: helper files prepended (after common.lua) to the scripts that need them
_HELPERS: dict[str, tuple[str, ...]] = {"enqueue": ("admission",), "limits": ("admission",)}


def load_sources(names: tuple[str, ...]) -> dict[str, str]:
    """The Lua source of each named script, with the shared helpers prepended."""
    lua = resources.files("inference.jobqueue").joinpath("lua")

    def read(name: str) -> str:
        return lua.joinpath(f"{name}.lua").read_text()

    return {
        name: "\n".join([read("common"), *map(read, _HELPERS.get(name, ())), read(name)]) for name in names
    }
