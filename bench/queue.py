"""Queue benchmarks: full-cycle throughput, crash recovery, claim latency, memory per job.

    python bench/queue.py                 # everything, results printed as a Markdown table
    python bench/queue.py --only cycle    # one part: cycle, recovery, latency, memory

Each run starts its own redis-server (AOF on, appendfsync everysec, noeviction) on a free
port, so the numbers do not depend on the shared server. The worker always runs in a
separate process, as in production.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its name would shadow
# the standard library's ``queue`` (which asyncio imports). Put the project root there.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from inference.contract import GenerationSpec, JobRecord, ModelId
from inference.jobqueue import EventConsumer, JobQueue, QueueSettings, connect, new_job_id
from inference.jobqueue import loop as event_loop
from inference.jobqueue.localredis import RedisServer
from inference.jobqueue.worker import JobContext, Worker

LANE = ModelId.COGVIDEOX_2B.value


def job(n: int, guilds: int = 50, users: int = 20) -> JobRecord:
    return JobRecord(
        id=new_job_id(),
        request_id=f"bench-{n}-{time.monotonic_ns()}",
        guild_id=str(1000 + n % guilds),
        channel_id="1",
        user_id=str(n // guilds % users + 1),
        spec=GenerationSpec(prompt="A honeybee lands on a sunflower at golden hour, slow push-in"),
    )


# ---------------------------------------------------------------- worker process


async def _instant(ctx: JobContext) -> dict[str, Any]:
    await ctx.heartbeat()  # one lease renewal per job
    return {"clip": "blob:bench"}


async def _slow(ctx: JobContext) -> dict[str, Any]:
    for step in range(1, 10_000):
        await asyncio.sleep(0.05)
        await ctx.step(step, 10_000)
    return {}


def worker_main(url: str, namespace: str, kind: str, concurrency: int, worker_id: str, loop: str) -> None:
    async def run() -> None:
        settings = QueueSettings(redis_url=url, namespace=namespace, global_cap=0, guild_cap=0)
        async with connect(url) as redis:
            handler = _instant if kind == "instant" else _slow
            await Worker(
                JobQueue(redis, settings), [LANE], handler, concurrency=concurrency, worker_id=worker_id
            ).run()

    event_loop.run(run(), loop=loop)


def spawn_worker(
    url: str, namespace: str, kind: str, concurrency: int, worker_id: str, loop: str = "asyncio"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", url, namespace, kind, str(concurrency), worker_id, loop],
        cwd=ROOT,
    )


# --------------------------------------------------------------------- benchmarks


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_cycle(url: str, jobs: int, concurrency: int, redis_pid: int, loop: str) -> dict[str, Any]:
    """Enqueue ``jobs``, let one worker process run them, read every result event."""
    namespace = f"cycle-{loop}-{concurrency}"
    settings = QueueSettings(redis_url=url, namespace=namespace, global_cap=0, guild_cap=0)
    async with connect(url) as redis:
        queue = JobQueue(redis, settings)
        consumer = EventConsumer(redis, settings.keys, "bench", "producer", batch=500)
        await consumer.ensure_group()
        worker = spawn_worker(url, namespace, "instant", concurrency, "bench-worker", loop)
        while not await redis.exists(settings.keys.worker("bench-worker")):
            await asyncio.sleep(0.05)
        records = [job(n) for n in range(jobs)]
        done = 0
        pids = {"redis": redis_pid, "worker": worker.pid, "producer": os.getpid()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        start = time.perf_counter()

        async def produce() -> None:
            for i in range(0, jobs, 64):
                await asyncio.gather(*(queue.enqueue(r) for r in records[i : i + 64]))

        producing = asyncio.create_task(produce())
        while done < jobs:
            batch = await consumer.read(block_seconds=1.0)
            done += sum(1 for d in batch if d.event and d.event.type.final)
            await consumer.ack([d.id for d in batch])
        elapsed = time.perf_counter() - start
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1e6 / jobs for name, pid in pids.items()}
        await producing
        worker.send_signal(signal.SIGTERM)
        worker.wait()
        await _drop(redis, namespace)
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "seconds": elapsed,
        "jobs_per_s": jobs / elapsed,
        "cpu_us_per_job": cpu,
    }


async def bench_recovery(url: str) -> dict[str, Any]:
    """Default settings: time from SIGKILL of the worker to the job running elsewhere."""
    namespace = "recovery"
    settings = QueueSettings(redis_url=url, namespace=namespace)
    async with connect(url) as redis:
        queue = JobQueue(redis, settings)
        victim = spawn_worker(url, namespace, "slow", 1, "victim")
        record = (await queue.enqueue(job(0))).job
        while (await queue.get(record.id)).status != "running":
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)  # mid-job
        rescuer = spawn_worker(url, namespace, "slow", 1, "rescuer")
        while not await redis.exists(settings.keys.worker("rescuer")):
            await asyncio.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        victim.wait()
        while (await queue.get(record.id)).worker_id != "rescuer":
            await asyncio.sleep(0.02)
        recovered = time.perf_counter() - killed
        rescuer.send_signal(signal.SIGKILL)
        rescuer.wait()
        await _drop(redis, namespace)
    return {
        "seconds": recovered,
        "lease_seconds": settings.lease_seconds,
        "heartbeat_seconds": settings.heartbeat_seconds,
        "reap_interval_seconds": settings.reap_interval_seconds,
    }


async def bench_latency(url: str, guilds: int, queued: int, claims: int) -> dict[str, Any]:
    """Claim latency with ``queued`` jobs spread over ``guilds`` guilds."""
    namespace = f"latency{guilds}"
    settings = QueueSettings(redis_url=url, namespace=namespace, global_cap=0, guild_cap=0)
    async with connect(url) as redis:
        queue = JobQueue(redis, settings)
        await _fill(queue, queued, guilds)
        samples = []
        for _ in range(claims):
            t0 = time.perf_counter()
            leases = await queue.claim("bench", [LANE])
            samples.append(time.perf_counter() - t0)
            assert leases, "the queue ran dry"
            await queue.enqueue(job(len(samples) + queued, guilds, 1))  # keep the depth steady
        await _drop(redis, namespace)
    samples.sort()
    return {
        "guilds": guilds,
        "queued": queued,
        "claims": claims,
        "p50_ms": 1000 * samples[len(samples) // 2],
        "p99_ms": 1000 * samples[int(len(samples) * 0.99)],
    }


async def bench_memory(url: str, queued: int) -> dict[str, Any]:
    """Redis memory per queued job (used_memory before and after)."""
    namespace = "memory"
    settings = QueueSettings(redis_url=url, namespace=namespace, global_cap=0, guild_cap=0)
    async with connect(url) as redis:
        queue = JobQueue(redis, settings)
        await redis.execute_command("MEMORY", "PURGE")
        before = (await redis.info("memory"))["used_memory"]
        await _fill(queue, queued, 100)
        await redis.execute_command("MEMORY", "PURGE")
        after = (await redis.info("memory"))["used_memory"]
        job_key = settings.keys.job((await queue.claim("bench", [LANE]))[0].job_id)
        record_bytes = await redis.memory_usage(job_key)
        await _drop(redis, namespace)
    return {"queued": queued, "bytes_per_job": (after - before) / queued, "job_hash_bytes": record_bytes}


async def _fill(queue: JobQueue, count: int, guilds: int) -> None:
    records = [job(n, guilds, 1) for n in range(count)]
    for i in range(0, count, 200):
        await asyncio.gather(*(queue.enqueue(r) for r in records[i : i + 200]))


async def _drop(redis: Any, namespace: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{{{namespace}}}:*", count=1000)]
    for i in range(0, len(keys), 500):
        await redis.delete(*keys[i : i + 500])


# -------------------------------------------------------------------------- main


def run_all(
    url: str, redis_pid: int, only: str | None, repeats: int, jobs: int, settings: list[tuple[str, int]]
) -> dict[str, Any]:
    """Run the chosen benchmarks; each throughput run gets a fresh event loop of its kind."""
    results: dict[str, Any] = {}
    if only in (None, "cycle"):
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {s: [] for s in settings}
        for _ in range(repeats):  # interleaved, so noise hits every setting alike
            for (loop, concurrency), out in runs.items():
                count = jobs if concurrency > 1 else jobs // 4
                out.append(event_loop.run(bench_cycle(url, count, concurrency, redis_pid, loop), loop=loop))
        results["cycle"] = [
            {
                "loop": loop,
                "concurrency": concurrency,
                "median_jobs_per_s": statistics.median(r["jobs_per_s"] for r in out),
                "runs": out,
            }
            for (loop, concurrency), out in runs.items()
        ]
    if only in (None, "recovery"):
        results["recovery"] = [asyncio.run(bench_recovery(url)) for _ in range(max(1, repeats // 2))]
    if only in (None, "latency"):
        results["latency"] = [asyncio.run(bench_latency(url, g, 10_000, 2000)) for g in (100, 1000, 10_000)]
    if only in (None, "memory"):
        results["memory"] = asyncio.run(bench_memory(url, 10_000))
    return results


def report(results: dict[str, Any]) -> str:
    lines = []
    if "cycle" in results:
        lines += [
            "| event loop | worker concurrency | median jobs/s | runs "
            "| median CPU µs/job: redis, worker, producer |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in results["cycle"]:
            runs = ", ".join(f"{x['jobs_per_s']:.0f}" for x in r["runs"])
            cpu = {
                k: statistics.median(x["cpu_us_per_job"][k] for x in r["runs"])
                for k in ("redis", "worker", "producer")
            }
            cpu_text = f"{cpu['redis']:.0f}, {cpu['worker']:.0f}, {cpu['producer']:.0f}"
            lines.append(
                f"| {r['loop']} | {r['concurrency']} | {r['median_jobs_per_s']:.0f} | {runs} | {cpu_text} |"
            )
        lines.append("")
    if "recovery" in results:
        secs = [r["seconds"] for r in results["recovery"]]
        lines.append(f"Recovery after SIGKILL (default settings): median {statistics.median(secs):.1f} s, "
                     f"max {max(secs):.1f} s over {len(secs)} runs")  # fmt: skip
        lines.append("")
    if "latency" in results:
        lines += ["| guilds | queued | claims | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
        for r in results["latency"]:
            lines.append(
                f"| {r['guilds']} | {r['queued']} | {r['claims']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} |"
            )
        lines.append("")
    if "memory" in results:
        m = results["memory"]
        lines.append(f"Memory: {m['bytes_per_job']:.0f} bytes per queued job ({m['queued']} queued; "
                     f"the job hash alone is {m['job_hash_bytes']} bytes)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        url, namespace, kind, concurrency, worker_id, loop = sys.argv[2:8]
        worker_main(url, namespace, kind, int(concurrency), worker_id, loop)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["cycle", "recovery", "latency", "memory"])
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs per throughput setting (median reported)"
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per throughput run")
    parser.add_argument(
        "--cycle",
        default="asyncio:1,asyncio:64,uvloop:1,uvloop:64",
        help="event loop:worker concurrency settings to compare side by side",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--redis-arg", action="append", default=[], help="extra redis-server argument (repeatable)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", None, *args.redis_arg).start()
        try:
            settings = [(item.split(":")[0], int(item.split(":")[1])) for item in args.cycle.split(",")]
            assert server.process is not None
            results = run_all(server.url, server.process.pid, args.only, args.repeats, args.jobs, settings)
        finally:
            server.stop()
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(report(results))


if __name__ == "__main__":
    main()
