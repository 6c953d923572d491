"""A worker process for crash drills: renders slowly, reporting every step.

python -m tests.drill_worker REDIS_URL NAMESPACE WORKER_ID
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from inference.contract import ModelId
from inference.jobqueue import JobQueue, QueueSettings, connect
from inference.jobqueue.worker import JobContext, Worker


async def slow_render(ctx: JobContext) -> dict[str, Any]:
    for step in range(1, 601):
        await asyncio.sleep(0.05)
        await ctx.step(step, 600)
    return {"clip": "slow"}


async def main(url: str, namespace: str, worker_id: str) -> None:
    settings = QueueSettings(
        redis_url=url,
        namespace=namespace,
        lease_seconds=1.0,
        heartbeat_seconds=0.25,
        reap_interval_seconds=0.1,
    )
    async with connect(url) as redis:
        worker = Worker(
            JobQueue(redis, settings), [ModelId.COGVIDEOX_2B.value], slow_render,
            worker_id=worker_id, progress_interval=0.05,
        )  # fmt: skip
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
