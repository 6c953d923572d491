"""Background loops that are restarted when they stop, and report themselves while they are down.

The bot's background work (delivering clips, reaping expired leases) runs as supervised loops.
A loop that returns, raises, or is cancelled by anyone but the supervisor is logged and started
again after a back-off (doubling up to ``MAX_RESTART_DELAY``); while it is not running,
:meth:`Supervisor.problems` names it, so ``/healthz`` answers 503 instead of saying ok.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from inference.jobqueue.tasks import stop_tasks

log = logging.getLogger(__name__)

MAX_RESTART_DELAY = 60.0
#: how long stopping a loop may take before it is left behind
STOP_SECONDS = 10.0
#: a loop that ran this long before stopping is restarted after the first delay again
HEALTHY_RUN_SECONDS = 300.0


class Supervised:
    """One loop under supervision."""

    def __init__(self, name: str, run: Callable[[], Awaitable[None]], first_delay: float = 1.0) -> None:
        self.name, self.run, self.first_delay = name, run, first_delay
        #: the running loop's task (None while it waits to be restarted)
        self.task: asyncio.Task[None] | None = None
        self.restarts = 0
        self._watch: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        self._watch = asyncio.create_task(self._keep_running(), name=f"reelbot-supervise-{self.name}")

    async def stop(self) -> None:
        """Stop the loop and its supervision, within ``STOP_SECONDS``; never raises for the loop.

        A cancellation can be lost (on Python 3.11, ``asyncio.wait_for``, which redis-py puts
        around every command, drops one that arrives as the command completes), so the loop
        is cancelled again every second until it ends; one that still runs at the deadline is
        logged and left behind rather than keeping the bot from closing.
        """
        await stop_tasks((self._watch, self.task), within=STOP_SECONDS, what=f"the {self.name} loop")

    async def _keep_running(self) -> None:
        delay = self.first_delay
        while True:
            started = time.monotonic()
            self.task = asyncio.create_task(self._run(), name=f"reelbot-{self.name}")
            await asyncio.wait({self.task})  # returns when the loop ends, however it ends
            ended = self.task
            if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                delay = self.first_delay
            if ended.cancelled():
                log.error("the %s loop was cancelled; restarting it in %.0f s", self.name, delay)
            elif ended.exception() is not None:
                log.error(
                    "the %s loop failed; restarting it in %.0f s",
                    self.name,
                    delay,
                    exc_info=ended.exception(),
                )
            else:
                log.error("the %s loop stopped; restarting it in %.0f s", self.name, delay)
            self.task = None
            self.restarts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def _run(self) -> None:
        await self.run()


class Supervisor:
    """The bot's supervised loops."""

    def __init__(self) -> None:
        self.loops: dict[str, Supervised] = {}

    def add(self, name: str, run: Callable[[], Awaitable[None]], first_delay: float = 1.0) -> Supervised:
        loop = Supervised(name, run, first_delay)
        self.loops[name] = loop
        return loop

    def start(self) -> None:
        for loop in self.loops.values():
            loop.start()

    async def stop(self) -> None:
        for loop in self.loops.values():
            await loop.stop()

    def problems(self) -> list[str]:
        """What is not running, for /healthz."""
        return [f"the {name} loop is not running" for name, loop in self.loops.items() if not loop.running]
