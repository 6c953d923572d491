"""The worker loop: claim jobs for the loaded models, run them, keep their leases alive.

The loop knows nothing about video: the GPU daemon passes a handler that renders one
job. The loop owns everything around it: fair claiming across the worker's lanes,
heartbeats, progress and cancel checks, per-job time limits, reaping dead workers'
leases, and a graceful stop that hands unfinished jobs back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from inference.contract import JobRecord
from inference.jobqueue.client import JobQueue, Lease
from inference.jobqueue.errors import LeaseLost
from inference.jobqueue.tasks import stop_tasks

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a handler when the job's cancel flag is set: stop rendering."""


class PermanentJobError(Exception):
    """The job cannot succeed (bad input, out of memory): fail it with this message."""


@dataclass
class JobContext:
    """What a handler gets: the job, and a way to report progress and notice a cancel."""

    lease: Lease
    queue: JobQueue
    progress_interval: float = 1.0
    _last_progress: float = field(default=0.0, repr=False)

    @property
    def job(self) -> JobRecord:
        return self.lease.job

    async def heartbeat(self) -> None:
        """Renew the lease now (the worker also does so every ``heartbeat_seconds``).

        Raises:
            LeaseLost: the job was taken over; stop working on it.
            JobCancelled: a cancel was requested.
        """
        self._raise_for((await self.queue.renew([self.lease]))[self.lease.job_id])

    async def step(self, step: int, total: int) -> None:
        """Call at every step: publishes progress at most once per interval and raises
        :class:`JobCancelled` as soon as a cancel was requested."""
        now = time.monotonic()
        if now - self._last_progress >= self.progress_interval or step >= total:
            self._last_progress = now
            self._raise_for(await self.queue.progress(self.lease, step, total))
        elif await self.queue.cancel_requested(self.lease):
            raise JobCancelled(self.lease.job_id)

    def _raise_for(self, code: int) -> None:
        """Act on a renew code: 0 = lease lost, 2 = cancel requested, 1 = carry on."""
        if code == 0:
            raise LeaseLost(self.lease.job_id, "taken over")
        if code == 2:
            raise JobCancelled(self.lease.job_id)


Handler = Callable[[JobContext], Awaitable[dict[str, Any]]]
#: told how each job ended: (lease, outcome, seconds); outcomes are succeeded, failed,
#: cancelled, lost (another worker took it over), unrecorded and interrupted
OutcomeHook = Callable[[Lease, str, float], None]


class Worker:
    """Runs ``handler`` on jobs claimed from ``lanes``, ``concurrency`` at a time."""

    def __init__(
        self,
        queue: JobQueue,
        lanes: Sequence[str],
        handler: Handler,
        *,
        worker_id: str | None = None,
        concurrency: int = 1,
        job_timeout: float | None = None,
        grace_seconds: float = 30.0,
        progress_interval: float = 1.0,
        on_outcome: OutcomeHook | None = None,
        info: dict[str, str] | None = None,
    ) -> None:
        if not lanes:
            raise ValueError("a worker needs at least one lane (model) to serve")
        self.queue, self.lanes, self.handler = queue, list(lanes), handler
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.concurrency, self.job_timeout = concurrency, job_timeout
        self.grace_seconds, self.progress_interval = grace_seconds, progress_interval
        self.on_outcome = on_outcome
        #: shown in the worker's heartbeat record (``reelbot queue status`` and admins)
        self.info = {**(info or {}), "pid": str(os.getpid())}
        self._active: dict[asyncio.Task[None], Lease] = {}
        self._stopping = asyncio.Event()
        #: set when a job ends or stop() is called: the loop looks at its slots again
        self._wake = asyncio.Event()
        self._turn = 0
        self._finishing: set[str] = set()
        self.outcomes: dict[str, int] = {}

    @property
    def active(self) -> int:
        """Jobs running now."""
        return len(self._active)

    def stop(self) -> None:
        """Stop claiming; running jobs get the grace period, then go back to the queue."""
        self._stopping.set()
        self._wake.set()

    async def run(self, *, burst: bool = False) -> None:
        """Serve until :meth:`stop` (or, with ``burst``, until the lanes are empty)."""
        settings = self.queue.settings
        log.info("worker %s serving %s", self.worker_id, ", ".join(self.lanes))
        await self.queue.register_worker(self.worker_id, self.lanes, self.info)
        beat = asyncio.create_task(self._heartbeat())
        next_reap = 0.0
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before looking at the slots, so that no wake-up is lost
                try:
                    if time.monotonic() >= next_reap:
                        await self.queue.reap()
                        next_reap = time.monotonic() + settings.reap_interval_seconds
                    free = self.concurrency - len(self._active)
                    claimed = await self._claim(free) if free > 0 else 0
                except RedisError as exc:
                    # Redis restarting or unreachable: running jobs carry on, claiming waits
                    log.warning(
                        "queue unavailable (%s); retrying in %.1fs", exc, settings.reap_interval_seconds
                    )
                    await self._idle(settings.reap_interval_seconds, False)
                    continue
                if claimed:
                    continue
                if burst and not self._active:
                    break
                await self._idle(settings.reap_interval_seconds, free > 0)
            await self._drain()
        finally:
            await stop_tasks([beat], within=10.0, what="the heartbeat")
            await self.queue.unregister_worker(self.worker_id, self.lanes)
            log.info("worker %s stopped: %s", self.worker_id, self.outcomes)

    async def _claim(self, free: int) -> int:
        # rotate the lane order so that a busy lane cannot starve the others
        self._turn = (self._turn + 1) % len(self.lanes)
        order = self.lanes[self._turn :] + self.lanes[: self._turn]
        leases = await self.queue.claim(self.worker_id, order, free)
        for lease in leases:
            task = asyncio.create_task(self._execute(lease), name=f"job-{lease.job_id}")
            self._active[task] = lease
            task.add_done_callback(self._job_done)
        return len(leases)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._active.pop(task, None)
        self._wake.set()

    async def _idle(self, seconds: float, can_take_more: bool) -> None:
        """Wait for a free slot, a stop, or (with a free slot) the lanes' doorbell."""
        woken = asyncio.ensure_future(self._wake.wait())
        waits: set[asyncio.Future[Any]] = {woken}
        if can_take_more:
            waits.add(asyncio.ensure_future(self.queue.wait_for_work(self.lanes, min(seconds, 1.0))))
        done, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        for fut in done:
            if not fut.cancelled() and fut.exception() is not None:
                log.warning("waiting for work failed: %s", fut.exception())

    async def _render(self, ctx: JobContext) -> tuple[str, Callable[[], Awaitable[None]]]:
        """Run the handler; returns the outcome and how to record it.

        LeaseLost and cancellation propagate: there is nothing to record then.
        """
        lease = ctx.lease
        try:
            result = await asyncio.wait_for(self.handler(ctx), timeout=self.job_timeout)
        except JobCancelled:
            return "cancelled", lambda: self.queue.finish_cancelled(lease)
        except TimeoutError:
            reason = f"rendering took longer than the {self.job_timeout:g} s limit"
        except PermanentJobError as exc:
            reason = str(exc)
        except (LeaseLost, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("job %s crashed the handler", lease.job_id)
            reason = f"rendering failed ({type(exc).__name__}); the team can look it up by job id"
        else:
            return "succeeded", lambda: self.queue.complete(lease, result)
        return "failed", lambda: self.queue.fail(lease, reason)

    async def _execute(self, lease: Lease) -> None:
        started = time.monotonic()
        outcome = "interrupted"
        try:
            outcome, record = await self._render(JobContext(lease, self.queue, self.progress_interval))
            # recording gives the lease up: the heartbeat must not report that as a lost lease
            self._finishing.add(lease.job_id)
            await record()
        except LeaseLost:
            outcome = "lost"
            log.warning("job %s: lease lost, dropping it", lease.job_id)
        except RedisError:
            # the outcome could not be recorded; the lease expires and the job runs again
            outcome = "unrecorded"
            log.exception("job %s: could not record the outcome", lease.job_id)
        finally:
            self._finishing.discard(lease.job_id)
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            elapsed = time.monotonic() - started
            log.info("job %s %s attempt=%d elapsed=%.2fs", lease.job_id, outcome, lease.job.attempts, elapsed)
            if self.on_outcome is not None:
                self.on_outcome(lease, outcome, elapsed)

    async def _heartbeat(self) -> None:
        every = self.queue.settings.heartbeat_seconds
        while True:
            await asyncio.sleep(every)
            try:
                await self.queue.register_worker(self.worker_id, self.lanes, self.info)
                codes = await self.queue.renew(list(self._active.values()))
            except Exception:
                log.exception("heartbeat failed; retrying in %.1fs", every)
                continue
            for task, lease in list(self._active.items()):
                # a job that is recording its outcome has legitimately given up its lease
                if codes.get(lease.job_id) == 0 and lease.job_id not in self._finishing:
                    log.warning("job %s: lease lost (worker too slow to heartbeat?)", lease.job_id)
                    task.cancel()

    async def _drain(self) -> None:
        """Give running jobs the grace period, then hand the rest back to the queue."""
        if not self._active:
            return
        log.info("stopping: waiting up to %.0fs for %d job(s)", self.grace_seconds, len(self._active))
        _, pending = await asyncio.wait(list(self._active), timeout=self.grace_seconds)
        for task in pending:
            lease = self._active[task]
            await stop_tasks([task], within=10.0, what=f"job {lease.job_id}")
            with contextlib.suppress(LeaseLost):  # the reaper got there first: nothing to hand back
                await self.queue.release(lease, "the worker was stopped")
