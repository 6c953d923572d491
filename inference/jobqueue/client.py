"""The job queue: a fair, leased, crash-safe queue on Redis shared by the bot and workers.

Every state change is one Lua script (see ``lua/``), so a job moves through exactly one
transition however many processes race for it. The bot enqueues and cancels; workers
claim, renew, finish or hand back; anyone may reap expired leases.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis

from inference.contract import ContractError, JobRecord, JobStatus, check_lane_name
from inference.jobqueue.admission import Allowance, Limits, Need
from inference.jobqueue.errors import JobNotFound, LeaseLost, LimitReached, QueueFull
from inference.jobqueue.scripts import ScriptRunner, load_sources
from inference.jobqueue.settings import QueueSettings

log = logging.getLogger(__name__)

_SCRIPTS = (
    "enqueue",
    "claim",
    "renew",
    "finish",
    "release",
    "reap",
    "cancel",
    "position",
    "limits",
    "settle",
)
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
#: limit checks merged into one script call at most (each takes Redis ~25 µs)
_CHECKS_PER_CALL = 32


def new_job_id() -> str:
    """A short random job id members can type (12 characters, 60 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The result of an enqueue: the job, and whether it already existed (a replay)."""

    job: JobRecord
    replayed: bool


@dataclass(frozen=True, slots=True)
class Lease:
    """A claimed job and the fencing token that proves the claim."""

    job: JobRecord
    token: str

    @property
    def job_id(self) -> str:
        return self.job.id


@dataclass(frozen=True, slots=True)
class Position:
    """Where a queued job stands: jobs ahead of it and an estimated start time."""

    ahead: int
    lane_depth: int
    workers: int
    #: Unix time the job is expected to start, or None when no worker serves its lane
    eta: float | None


@dataclass(frozen=True, slots=True)
class ReapResult:
    requeued: int
    failed: int
    cancelled: int


class JobQueue:
    """Client for the queue; one per process, safe to share between tasks."""

    def __init__(self, redis: Redis, settings: QueueSettings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = settings.keys
        self._prefix = self.keys.prefix
        self._scripts = ScriptRunner(redis, load_sources(_SCRIPTS))

    async def _run(self, script: str, *args: Any) -> Any:
        return await self._scripts(script, self._prefix, self.settings.events_maxlen, *args)

    # ------------------------------------------------------------------ bot side

    async def enqueue(
        self, job: JobRecord, limits: Limits | None = None, need: Need | None = None
    ) -> Enqueued:
        """Queue ``job`` unless its request id was seen before.

        With ``limits``, the member's limits are judged and taken in the same atomic step
        (see :mod:`inference.jobqueue.admission`); without, only the block list and the
        queue caps of the settings apply. ``need`` says what the job costs and what its whole
        request must find free (several takes, a 10 s clip); one standard clip by default.

        Returns the new job, or the existing one for a replayed request id.

        Raises:
            QueueFull: the global or the guild cap is reached; nothing was queued.
            LimitReached: another limit refused the job; nothing was queued.
        """
        if job.status is not JobStatus.QUEUED or job.attempts:
            raise ContractError("only a fresh job in status 'queued' can be enqueued")
        fields = job.to_fields()
        item = (
            job.id,
            job.request_id,
            job.lane,
            job.guild_id,
            job.user_id,
            job.channel_id,
            fields["weight"],
            fields["max_attempts"],
            fields["spec"],
            limits.to_json(need) if limits is not None else "",
        )
        header = (
            self._prefix,
            self.settings.events_maxlen,
            self.settings.global_cap,
            self.settings.guild_cap,
            self.settings.retention_seconds,
        )
        reply = await self._scripts.item("enqueue", header, item)
        kind = reply[0]
        if kind == "ok":
            log.info("job %s queued lane=%s guild=%s", job.id, job.lane, job.guild_id)
            created = float(reply[2])
            return Enqueued(replace(job, created_at=created, updated_at=created), replayed=False)
        if kind == "replay":
            return Enqueued(await self.get(reply[1]), replayed=True)
        if kind == "refused":
            refusal = _refusal(reply[1:])
            log.info(
                "job %s refused guild=%s user=%s limit=%s (%d of %d)",
                job.id,
                job.guild_id,
                job.user_id,
                refusal.limit,
                refusal.used,
                refusal.cap,
            )
            raise refusal
        raise ContractError(f"job id {job.id} is already taken; build the job with a new id")

    async def check(self, guild_id: str, user_id: str, limits: Limits, need: Need | None = None) -> None:
        """Judge a member's next request without taking anything (before slow work such as
        downloading an image); a refusal counts towards their cooldown as enqueue's would.

        Raises:
            LimitReached: the request would be refused (QueueFull for the queue caps).
        """
        refusal = await self._limits("check", (guild_id, user_id, limits.to_json(need)))
        if refusal:
            raise _refusal(refusal)

    async def allowance(self, guild_id: str, user_id: str, limits: Limits) -> Allowance:
        """What a member may still do; reads only."""
        _, state = await self._limits("look", (guild_id, user_id, limits.to_json()))
        return Allowance.from_state(limits, state)

    async def _limits(self, mode: str, item: tuple[str, str, str]) -> Any:
        # concurrent checks share one script call, a few dozen at a time so that no call
        # holds Redis for long
        header = (self._prefix, self.settings.events_maxlen, mode, self.settings.global_cap)
        return await self._scripts.item("limits", header, item, max_items=_CHECKS_PER_CALL)

    async def settle(self, job_id: str, delivered: bool) -> str:
        """Charge a succeeded job's daily-quota hold (the clip was posted) or refund it
        (it could not be); once per job, so retries are safe.

        Returns ``"charged"`` or ``"refunded"`` when this call settled it, else
        ``"already"`` (settled before, or the job held no quota).

        Raises:
            JobNotFound: no such job.
            ContractError: the job has not succeeded (failed and cancelled jobs were
                refunded when they ended).
        """
        outcome = "charged" if delivered else "refunded"
        reply = await self._run("settle", job_id, outcome)
        if reply[0] == "missing":
            raise JobNotFound(job_id)
        if reply[0] == "not_done":
            raise ContractError(f"job {job_id} is {reply[1]}: only a succeeded job's quota is settled")
        if reply[0] == "already":
            return "already"
        log.info("job %s quota %s", job_id, outcome)
        return outcome

    async def cancel(self, job_id: str) -> str:
        """Cancel a job.

        Returns ``"cancelled"`` (it was queued and has left the queue), ``"cancelling"``
        (it is running; the worker stops at its next step) or the terminal status it
        already had.

        Raises:
            JobNotFound: no such job.
        """
        reply = await self._run("cancel", job_id, self.settings.retention_seconds)
        if reply[0] == "missing":
            raise JobNotFound(job_id)
        result = str(reply[1] if reply[0] == "already" else reply[0])
        log.info("job %s cancel -> %s", job_id, result)
        return result

    async def get(self, job_id: str) -> JobRecord:
        """The job's record.

        Raises:
            JobNotFound: no such job.
            ContractError: the stored record is malformed or from another version.
        """
        fields = await self.redis.hgetall(self.keys.job(job_id))
        if not fields:
            raise JobNotFound(job_id)
        return JobRecord.from_fields(fields)

    async def position(self, job_id: str, stats: LaneStats | None = None) -> Position | None:
        """Jobs ahead of a queued job and its ETA; None when it is no longer queued.

        The estimate replays the fair round-robin with equal weights, so it is exact for
        equal weights and approximate otherwise. ``stats`` (the lane's workers and seconds
        per job, read moments ago) saves a round trip.

        Raises:
            JobNotFound: no such job.
        """
        reply = await self._run("position", job_id)
        if reply[0] == "missing":
            raise JobNotFound(job_id)
        if reply[0] != "ok":
            return None
        ahead, lane_depth = int(reply[1]), int(reply[2])
        if stats is None or stats.lane != str(reply[3]):
            stats = await self.lane_stats(str(reply[3]))
        eta = None
        if stats.workers:
            rounds = math.floor(ahead / stats.workers)
            eta = time.time() + rounds * stats.job_seconds
        return Position(ahead=ahead, lane_depth=lane_depth, workers=stats.workers, eta=eta)

    # --------------------------------------------------------------- worker side

    async def claim(self, worker_id: str, lanes: Sequence[str], max_jobs: int = 1) -> list[Lease]:
        """Claim up to ``max_jobs`` jobs from ``lanes`` (tried in the order given).

        A worker passes only the lanes of the models it has loaded, rotating the order
        between calls so that no lane starves another.
        """
        if not lanes or max_jobs < 1:
            return []
        reply = await self._run(
            "claim", worker_id, self.settings.lease_seconds, max_jobs, *map(check_lane_name, lanes)
        )
        leases: list[Lease] = []
        i = 0
        while i < len(reply):
            token, at = reply[i], reply[i + 1]
            end = reply.index("", i + 2)
            fields = dict(zip(reply[i + 2 : end : 2], reply[i + 3 : end : 2], strict=True))
            i = end + 1
            # the script returns the fields as they were; apply what the claim changed
            fields.update(
                status="running",
                worker_id=worker_id,
                attempts=str(int(fields.get("attempts", "0")) + 1),
                started_at=at,
                updated_at=at,
            )
            try:
                leases.append(Lease(JobRecord.from_fields(fields), token))
            except ContractError as exc:
                # A record this version cannot read must not jam the lane: fail it.
                job_id = fields.get("id", "?")
                log.error("job %s has an unreadable record, failing it: %s", job_id, exc)
                await self._finish(job_id, token, JobStatus.FAILED, f"unreadable job record: {exc}")
        for lease in leases:
            log.info("job %s claimed worker=%s attempt=%d", lease.job_id, worker_id, lease.job.attempts)
        return leases

    async def renew(self, leases: Iterable[Lease]) -> dict[str, int]:
        """Heartbeat: extend the caller's leases in one round trip.

        Returns ``{job_id: code}`` with 0 = lease lost, 1 = held, 2 = held and cancel requested.
        """
        return await self._renew(leases, "", "")

    async def progress(self, lease: Lease, step: int, total: int) -> int:
        """Publish step/total for a running job (also renews its lease); returns a renew code."""
        codes = await self._renew([lease], str(int(step)), str(int(total)))
        return codes[lease.job_id]

    async def _renew(self, leases: Iterable[Lease], step: str, total: str) -> dict[str, int]:
        header = (self._prefix, self.settings.events_maxlen, self.settings.lease_seconds, step, total)
        leases = list(leases)
        if len(leases) == 1:  # the common case (a job's own heartbeat) needs no gather
            code = await self._scripts.item("renew", header, (leases[0].job_id, leases[0].token))
            return {leases[0].job_id: int(code)}
        codes = await asyncio.gather(
            *(self._scripts.item("renew", header, (lease.job_id, lease.token)) for lease in leases)
        )
        return {lease.job_id: int(code) for lease, code in zip(leases, codes, strict=True)}

    async def cancel_requested(self, lease: Lease) -> bool:
        """Whether the bot asked for this running job to stop (checked at every step)."""
        flag = await self.redis.hget(self.keys.job(lease.job_id), "cancel_requested")
        return flag == "1"

    async def complete(self, lease: Lease, result: dict[str, Any]) -> None:
        """Mark the job succeeded with ``result``.

        Raises:
            LeaseLost: the lease was taken over; the result was not recorded.
        """
        await self._finish(lease.job_id, lease.token, JobStatus.SUCCEEDED, "", result)

    async def fail(self, lease: Lease, reason: str) -> None:
        """Mark the job failed with a reason members can read.

        Raises:
            LeaseLost: the lease was taken over; nothing was recorded.
        """
        await self._finish(lease.job_id, lease.token, JobStatus.FAILED, reason)

    async def finish_cancelled(self, lease: Lease) -> None:
        """Record that the worker stopped the job because a cancel was requested.

        Raises:
            LeaseLost: the lease was taken over.
        """
        await self._finish(lease.job_id, lease.token, JobStatus.CANCELLED, "cancelled by request")

    async def _finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        error: str,
        result: dict[str, Any] | None = None,
    ) -> None:
        payload = json.dumps(result or {}, sort_keys=True, separators=(",", ":"))
        header = (self._prefix, self.settings.events_maxlen, self.settings.retention_seconds)
        reply = await self._scripts.item("finish", header, (job_id, token, str(status), error, payload))
        if reply[0] != "ok":
            log.warning("job %s: stale %s refused (now %s)", job_id, status, reply[1] or "gone")
            raise LeaseLost(job_id, str(reply[1]))
        log.info("job %s %s", job_id, status)

    async def release(self, lease: Lease, reason: str) -> str:
        """Hand a running job back to the queue without counting the attempt.

        Returns ``"queued"``, or ``"cancelled"`` when a cancel was pending.

        Raises:
            LeaseLost: the lease was taken over.
        """
        reply = await self._run("release", lease.job_id, lease.token, self.settings.retention_seconds, reason)
        if reply[0] == "stale":
            raise LeaseLost(lease.job_id, str(reply[1]))
        log.info("job %s handed back: %s", lease.job_id, reason)
        return str(reply[0])

    async def reap(self, limit: int = 100) -> ReapResult:
        """Reclaim expired leases; safe to run from any number of processes at once."""
        reply = await self._run("reap", self.settings.retention_seconds, limit)
        result = ReapResult(*(int(n) for n in reply))
        if any(reply):
            log.warning(
                "reaped expired leases: %d requeued, %d failed, %d cancelled",
                result.requeued,
                result.failed,
                result.cancelled,
            )
        return result

    async def wait_for_work(self, lanes: Sequence[str], seconds: float) -> None:
        """Block until a job is queued in one of ``lanes`` or ``seconds`` pass."""
        if lanes:
            keys = [self.keys.lane_wake(lane) for lane in lanes]
            await self.redis.blpop(keys, timeout=max(seconds, 0.01))

    async def register_worker(self, worker_id: str, lanes: Sequence[str], info: dict[str, str]) -> None:
        """Announce a live worker and the lanes it serves (call with every heartbeat)."""
        now = time.time()
        ttl = max(int(self.settings.lease_seconds * 2), 5)
        async with self.redis.pipeline(transaction=True) as pipe:
            record = {**info, "lanes": ",".join(lanes), "seen": str(now)}
            pipe.hset(self.keys.worker(worker_id), mapping=record)  # type: ignore[arg-type]
            pipe.expire(self.keys.worker(worker_id), ttl)
            for lane in lanes:
                pipe.zadd(self.keys.lane_workers(lane), {worker_id: now})
                pipe.zremrangebyscore(self.keys.lane_workers(lane), "-inf", now - ttl)
            await pipe.execute()

    async def unregister_worker(self, worker_id: str, lanes: Sequence[str]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.worker(worker_id))
            for lane in lanes:
                pipe.zrem(self.keys.lane_workers(lane), worker_id)
            await pipe.execute()

    # -------------------------------------------------------------------- stats

    async def maintenance(self) -> dict[str, str]:
        """The maintenance mode (``mode``: ``paused`` or ``draining``, ``reason``, ``by``, ``at``), or {}."""
        state: dict[str, str] = await self.redis.hgetall(self.keys.maintenance())  # type: ignore[assignment]
        return state

    async def set_maintenance(self, mode: str | None, reason: str = "", by: str = "") -> None:
        """Enter ``paused`` (claims return nothing, checked inside the claim script, so workers
        start nothing new) or ``draining`` (the queue empties, nothing new joins it), or leave
        maintenance with ``None``."""
        key = self.keys.maintenance()
        if mode is None:
            await self.redis.delete(key)
            return
        if mode not in ("paused", "draining"):
            raise ValueError(f"maintenance mode {mode!r}: use paused or draining")
        mapping = {"mode": mode, "reason": reason, "by": by, "at": f"{time.time():.0f}"}
        await self.redis.hset(key, mapping=mapping)  # type: ignore[arg-type]

    async def depth(self) -> dict[str, int]:
        """Queued jobs: ``all`` and ``guild:<id>`` counts (per lane: :meth:`lane_stats`)."""
        raw: dict[str, str] = await self.redis.hgetall(self.keys.depth())  # type: ignore[assignment]
        return {k: int(v) for k, v in raw.items()}

    async def lane_stats(self, lane: str) -> LaneStats:
        """Depth, live workers and measured seconds per job for one lane."""
        ttl = max(self.settings.lease_seconds * 2, 5)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hvals(self.keys.lane_depth(lane))
            pipe.zcount(self.keys.lane_workers(lane), time.time() - ttl, "+inf")
            pipe.hget(self.keys.lane_state(lane), "run_avg")
            per_guild, workers, run_avg = await pipe.execute()
        return LaneStats(
            lane=lane,
            depth=sum(int(n) for n in per_guild),
            workers=int(workers),
            job_seconds=float(run_avg) if run_avg else self.settings.default_job_seconds,
        )

    async def guild_depth(self, guild_id: str, lane: str | None = None) -> int:
        """Queued jobs of one guild, in one lane or in all lanes."""
        if lane is None:
            value = await self.redis.hget(self.keys.depth(), f"guild:{guild_id}")
        else:
            value = await self.redis.hget(self.keys.lane_depth(lane), f"gd:{guild_id}")
        return int(value or 0)

    async def running(self) -> int:
        """Jobs holding a lease right now."""
        return int(await self.redis.zcard(self.keys.leases()))


def _refusal(reply: list[Any]) -> LimitReached:
    """The exception for a refusal reply ``[limit, used, cap, retry_at, detail[, cooldown_until]]``."""
    limit, used, cap = str(reply[0]), int(reply[1]), int(reply[2])
    if limit in ("guild_queue", "global_queue"):
        return QueueFull(limit.removesuffix("_queue"), used, cap)
    retry_at = float(reply[3]) or None
    cooldown_until = float(reply[5]) if len(reply) > 5 else None
    return LimitReached(limit, used, cap, retry_at, str(reply[4]), cooldown_until)


@dataclass(frozen=True, slots=True)
class LaneStats:
    lane: str
    depth: int
    workers: int
    job_seconds: float
