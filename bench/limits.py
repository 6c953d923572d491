"""Member-limit check: throughput and latency of ``JobQueue.check``, and what limits add to enqueue.

    python bench/limits.py                  # 5 interleaved repeats, Markdown tables
    python bench/limits.py --tiny           # a few seconds, for the smoke test

A private redis-server (AOF on, appendfsync everysec, noeviction) is started for the run
and filled as a busy deployment would be: 1,000 members over 20 guilds, each admitted
through ``enqueue(job, limits)`` so that they have rate-limit state, active jobs and a
daily-quota hold. With the default ``Limits()`` most members may still ask for a job; one
in 20 already has two jobs waiting (refused: ``active``) and one in 20 has used its five
jobs this hour (refused: ``rate``). Refusals count strikes, so those members soon sit in a
cooldown; every refusal writes their strike state, as it would in production.

Check: ``--checks`` calls of ``queue.check`` on random members, spread over N tasks of one
uvloop process (N = each ``--concurrency`` level). Each call is timed around its await;
throughput is calls over wall time. Concurrent checks share script calls (up to 32 per
call), as they do in the bot. Levels are interleaved across repeats, and the median over
repeats of each figure is reported, with the CPU each process used per check (/proc) and
Redis's own time per script call (INFO commandstats, one call judging several members).

Enqueue: 2 jobs per member (2,000 by default) enqueued with the default ``Limits()`` and
without limits, alternating side by side in each repeat on a fresh namespace, so the
ratio shows what judging and taking the limits adds to admission. Every job is admitted
on both sides (the guild queue cap and the guild's daily quota are exactly reached).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from inference.contract import GenerationSpec, JobRecord
from inference.jobqueue import JobQueue, LimitReached, Limits, QueueSettings, connect, new_job_id
from inference.jobqueue import loop as event_loop
from inference.jobqueue.localredis import RedisServer

PROMPT = "A honeybee lands on a sunflower at golden hour, slow push-in"
LIMITS = Limits()  # the defaults: 5 jobs/hour, 2 active, 100 per guild per day, 100 waiting per guild


def settings_for(url: str, namespace: str) -> QueueSettings:
    # 1,000 members with a job or two each hold more than the default global cap of 1,000
    return QueueSettings(redis_url=url, namespace=namespace, global_cap=10_000)


def member(m: int, guilds: int) -> tuple[str, str]:
    """Guild and user id of member number ``m``."""
    return str(1000 + m % guilds), str(500_000 + m)


def job(guild: str, user: str) -> JobRecord:
    return JobRecord(
        id=new_job_id(),
        request_id=f"bench-{uuid.uuid4().hex}",
        guild_id=guild,
        channel_id="1",
        user_id=user,
        spec=GenerationSpec(prompt=PROMPT),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# ------------------------------------------------------------------------- state


async def fill(queue: JobQueue, members: int, guilds: int) -> dict[str, int]:
    """Give every member rate state, active jobs and a quota hold, through the real enqueue.

    Returns how many members of each kind there are.
    """
    kinds = {"one_job": 0, "two_jobs": 0, "rate_used": 0}
    calls = []
    rate_used = []
    for m in range(members):
        guild, user = member(m, guilds)
        if m % 20 == 0:  # two jobs waiting: refused by the active cap (2)
            kinds["two_jobs"] += 1
            calls += [(guild, user), (guild, user)]
        elif m % 20 == 1:  # five jobs this hour, four cancelled: refused by the rate (5/h)
            kinds["rate_used"] += 1
            rate_used.append((guild, user))
        else:
            kinds["one_job"] += 1
            calls.append((guild, user))
    for i in range(0, len(calls), 200):
        await asyncio.gather(*(queue.enqueue(job(g, u), LIMITS) for g, u in calls[i : i + 200]))
    no_active_cap = Limits(active=0)
    for guild, user in rate_used:
        ids = [(await queue.enqueue(job(guild, user), no_active_cap)).job.id for _ in range(LIMITS.rate)]
        for job_id in ids[1:]:
            await queue.cancel(job_id)
    return kinds


async def drop(redis: Redis, namespace: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{{{namespace}}}:*", count=1000)]
    for i in range(0, len(keys), 500):
        await redis.delete(*keys[i : i + 500])


# --------------------------------------------------------------------- the check


async def bench_check(
    queue: JobQueue,
    who: list[tuple[str, str]],
    concurrency: int,
    checks: int,
    redis_pid: int,
) -> dict[str, Any]:
    """``checks`` calls of ``queue.check`` from ``concurrency`` tasks, each call timed."""
    per_task = checks // concurrency
    rng = random.Random(concurrency)
    plans = [[who[rng.randrange(len(who))] for _ in range(per_task)] for _ in range(concurrency)]
    refused: dict[str, int] = {}
    samples: list[float] = []

    async def task(plan: list[tuple[str, str]]) -> None:
        clock = time.perf_counter
        for guild, user in plan:
            t0 = clock()
            try:
                await queue.check(guild, user, LIMITS)
            except LimitReached as exc:
                refused[exc.limit] = refused.get(exc.limit, 0) + 1
            samples.append(clock() - t0)

    await queue.redis.config_resetstat()  # a private server: its command statistics are ours
    pids = {"redis": redis_pid, "client": os.getpid()}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.perf_counter()
    await asyncio.gather(*(task(plan) for plan in plans))
    elapsed = time.perf_counter() - start
    done = per_task * concurrency
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1e6 / done for name, pid in pids.items()}
    evalsha = (await queue.redis.info("commandstats")).get("cmdstat_evalsha", {})
    samples.sort()
    return {
        "concurrency": concurrency,
        "checks": done,
        "seconds": elapsed,
        "checks_per_s": done / elapsed,
        "p50_ms": 1000 * percentile(samples, 0.50),
        "p99_ms": 1000 * percentile(samples, 0.99),
        "max_ms": 1000 * samples[-1],
        "refused": sum(refused.values()) / done,
        "refused_by": refused,
        "cpu_us_per_check": cpu,
        # Redis's own timing of the script; includes time it was descheduled mid-script
        "script_us": float(evalsha.get("usec_per_call", 0.0)),
    }


# ------------------------------------------------------------------- the enqueue


async def bench_enqueue(
    redis: Redis, url: str, members: int, guilds: int, concurrency: int, limited: bool, redis_pid: int
) -> dict[str, Any]:
    """Two jobs per member, ``concurrency`` at a time, on a fresh namespace."""
    namespace = f"bench-enqueue-{uuid.uuid4().hex[:8]}"
    queue = JobQueue(redis, settings_for(url, namespace))
    records = [job(*member(m, guilds)) for _ in range(2) for m in range(members)]
    limits = LIMITS if limited else None
    pids = {"redis": redis_pid, "client": os.getpid()}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.perf_counter()
    for i in range(0, len(records), concurrency):
        outcomes = await asyncio.gather(
            *(queue.enqueue(r, limits) for r in records[i : i + concurrency]), return_exceptions=True
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:  # every job must be admitted, or the two sides would do different work
            raise RuntimeError(f"{len(failed)} enqueues failed, the first with: {failed[0]!r}")
    elapsed = time.perf_counter() - start
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1e6 / len(records) for name, pid in pids.items()}
    await drop(redis, namespace)
    return {
        "jobs": len(records),
        "seconds": elapsed,
        "jobs_per_s": len(records) / elapsed,
        "cpu_us_per_job": cpu,
    }


# -------------------------------------------------------------------------- main


async def run(args: argparse.Namespace, url: str, redis_pid: int) -> dict[str, Any]:
    namespace = f"bench-limits-{uuid.uuid4().hex[:8]}"
    async with connect(url) as redis:
        queue = JobQueue(redis, settings_for(url, namespace))
        kinds = await fill(queue, args.members, args.guilds)
        who = [member(m, args.guilds) for m in range(args.members)]
        # warm up: scripts loaded, the connection pool filled, the refused members in cooldown
        await bench_check(queue, who, max(args.concurrency), max(args.checks // 4, 256), redis_pid)
        checks: dict[int, list[dict[str, Any]]] = {c: [] for c in args.concurrency}
        enqueues: dict[tuple[int, bool], list[dict[str, Any]]] = {
            (c, limited): [] for c in args.enqueue_concurrency for limited in (False, True)
        }
        for n in range(args.repeats):  # interleaved, so noise hits every setting alike
            for c in args.concurrency if n % 2 == 0 else reversed(args.concurrency):
                checks[c].append(await bench_check(queue, who, c, args.checks, redis_pid))
            for c in args.enqueue_concurrency:
                for limited in (False, True) if n % 2 == 0 else (True, False):
                    outcome = await bench_enqueue(
                        redis, url, args.members, args.guilds, c, limited, redis_pid
                    )
                    enqueues[(c, limited)].append(outcome)
        state = {"members": args.members, "guilds": args.guilds, **kinds}
        state["queued"] = (await queue.depth()).get("all", 0)
        await drop(redis, namespace)
    return {
        "state": state,
        "limits": json.loads(LIMITS.to_json()),
        "check": [summarise_check(c, checks[c]) for c in args.concurrency],
        "enqueue": [
            summarise_enqueue(c, enqueues[(c, False)], enqueues[(c, True)]) for c in args.enqueue_concurrency
        ],
    }


def summarise_check(concurrency: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(field: str) -> float:
        return statistics.median(r[field] for r in runs)

    summary = {
        "concurrency": concurrency,
        "checks": runs[0]["checks"],
        "median_checks_per_s": median("checks_per_s"),
        "median_p50_ms": median("p50_ms"),
        "median_p99_ms": median("p99_ms"),
        "median_refused": median("refused"),
        "median_script_us": median("script_us"),
        "median_cpu_us_per_check": {
            k: statistics.median(r["cpu_us_per_check"][k] for r in runs) for k in ("redis", "client")
        },
        "runs": runs,
    }
    return summary


def summarise_enqueue(
    concurrency: int, plain: list[dict[str, Any]], limited: list[dict[str, Any]]
) -> dict[str, Any]:
    ratios = [w["jobs_per_s"] / wo["jobs_per_s"] for wo, w in zip(plain, limited, strict=True)]

    def cpu(runs: list[dict[str, Any]]) -> dict[str, float]:
        return {k: statistics.median(r["cpu_us_per_job"][k] for r in runs) for k in ("redis", "client")}

    return {
        "concurrency": concurrency,
        "jobs": plain[0]["jobs"],
        "median_without_jobs_per_s": statistics.median(r["jobs_per_s"] for r in plain),
        "median_with_jobs_per_s": statistics.median(r["jobs_per_s"] for r in limited),
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
        "median_cpu_us_per_job": {"without": cpu(plain), "with": cpu(limited)},
        "without": plain,
        "with": limited,
    }


def report(results: dict[str, Any]) -> str:
    s = results["state"]
    lines = [
        f"State: {s['members']} members over {s['guilds']} guilds, {s['queued']} jobs waiting "
        f"({s['one_job']} members with one, {s['two_jobs']} with two, {s['rate_used']} with the "
        "hour's rate used)",
        "",
        "Check:",
        "",
        "| concurrency | checks | median checks/s | p50 ms | p99 ms | refused | runs (checks/s) "
        "| CPU µs/check: redis, client | Redis script µs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["check"]:
        runs = ", ".join(f"{x['checks_per_s']:.0f}" for x in r["runs"])
        cpu = r["median_cpu_us_per_check"]
        lines.append(
            f"| {r['concurrency']} | {r['checks']} | {r['median_checks_per_s']:.0f} "
            f"| {r['median_p50_ms']:.3f} | {r['median_p99_ms']:.3f} | {100 * r['median_refused']:.1f} % "
            f"| {runs} | {cpu['redis']:.0f}, {cpu['client']:.0f} | {r['median_script_us']:.1f} |"
        )
    lines += [
        "",
        "| enqueue concurrency | jobs | without limits jobs/s | with limits jobs/s | with / without "
        "| ratios | CPU µs/job without: redis, client | with |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["enqueue"]:
        ratios = ", ".join(f"{x:.2f}" for x in r["ratios"])
        wo, w = r["median_cpu_us_per_job"]["without"], r["median_cpu_us_per_job"]["with"]
        lines.append(
            f"| {r['concurrency']} | {r['jobs']} | {r['median_without_jobs_per_s']:.0f} "
            f"| {r['median_with_jobs_per_s']:.0f} | {r['median_ratio']:.3f} | {ratios} "
            f"| {wo['redis']:.0f}, {wo['client']:.0f} | {w['redis']:.0f}, {w['client']:.0f} |"
        )
    return "\n".join(lines)


def levels(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs (medians reported)")
    parser.add_argument("--checks", type=int, default=20_000, help="checks per run and concurrency level")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--guilds", type=int, default=20)
    parser.add_argument(
        "--concurrency", type=levels, default=[1, 4, 8, 16, 32, 64], help="check tasks, e.g. 1,4,16"
    )
    parser.add_argument("--enqueue-concurrency", type=levels, default=[1, 64], help="enqueues at a time")
    parser.add_argument("--loop", choices=["uvloop", "asyncio", "auto"], default="uvloop")
    parser.add_argument("--tiny", action="store_true", help="a few seconds' run for CI (100 members)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--redis-arg", action="append", default=[], help="extra redis-server argument (repeatable)"
    )
    args = parser.parse_args()
    if args.tiny:
        args.repeats, args.checks, args.members, args.guilds = 1, 256, 100, 5
    if args.members * 2 > args.guilds * min(LIMITS.guild_queue, LIMITS.guild_daily):
        parser.error("two jobs per member must fit the guild queue cap: use more --guilds")
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-") as tmp:
        server = RedisServer(Path(tmp) / "redis", None, *args.redis_arg).start()
        try:
            assert server.process is not None
            results = event_loop.run(run(args, server.url, server.process.pid), loop=args.loop)
        finally:
            server.stop()
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "loop": args.loop}
    results["target"] = target_met(results["check"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    print(report(results))
    print()
    print(results["target"]["verdict"])


def target_met(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's target: some concurrency level gives >= 10,000 checks/s with p99 < 2 ms."""
    meeting = [
        r["concurrency"] for r in rows if r["median_checks_per_s"] >= 10_000 and r["median_p99_ms"] < 2
    ]
    verdict = (
        f"Target (>= 10,000 checks/s with p99 < 2 ms): met at concurrency {', '.join(map(str, meeting))}"
        if meeting
        else "Target (>= 10,000 checks/s with p99 < 2 ms): not met at any concurrency level"
    )
    return {"met": bool(meeting), "at_concurrency": meeting, "verdict": verdict}


if __name__ == "__main__":
    main()
