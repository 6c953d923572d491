"""Daemon overhead: one job through the queue and the worker, against the same pipeline called directly.

    python bench/daemon.py                     # tiny model, 20 jobs per side, interleaved
    python bench/daemon.py --model DIR --jobs 10

Both sides render the same spec with the same pipeline, alternating job by job in one
process so that machine noise hits both alike. "Direct" is the bare diffusers call
followed by the same MP4 encode (what a render-and-save script does); the bare call's
time is reported too.
"Daemon" is the whole path a member's job takes on the GPU box: enqueue, claim, the
render thread with a progress and cancel check at every step, MP4 encoding, storing the
clip in Redis, and recording the result; it is timed from enqueue until the producer
sees the job succeeded. A private redis-server (AOF everysec) is started for the run.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from typing import Any

import torch

from bench.events import stream_end, wait_succeeded
from inference.contract import GenerationSpec, JobRecord, ModelId
from inference.daemon import Daemon
from inference.generator import Generator, to_uint8
from inference.jobqueue import JobQueue, QueueSettings, connect, new_job_id
from inference.jobqueue.localredis import RedisServer
from inference.pipelines import LoadedModel, load_models
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from inference.tiny import make_tiny_model
from inference.video import encode_mp4

PROMPT = "A honeybee lands on a sunflower at golden hour, slow push-in"


def direct(loaded: LoadedModel, seed: int) -> tuple[float, float]:
    """The bare pipeline call with the recipe's arguments, then the same MP4 encode.

    Returns:
        Seconds for the pipeline alone, and for the pipeline plus the encode.
    """
    r = loaded.recipe
    started = time.perf_counter()
    with torch.inference_mode():
        output = loaded.pipe(
            prompt=PROMPT,
            num_inference_steps=r.steps,
            guidance_scale=r.guidance,
            use_dynamic_cfg=r.dynamic_cfg,
            num_frames=r.frames,
            height=r.height,
            width=r.width,
            max_sequence_length=r.max_tokens,
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="np",
        )
    piped = time.perf_counter()
    encode_mp4(to_uint8(output.frames[0]), r.fps, metadata={"title": PROMPT})
    return piped - started, time.perf_counter() - started


async def through_daemon(queue: JobQueue, model: ModelId, seed: int) -> float:
    """Enqueue one job and wait until it succeeded; returns seconds."""
    record = JobRecord(
        id=new_job_id(),
        request_id=f"bench-{new_job_id()}",
        guild_id="1",
        channel_id="1",
        user_id="1",
        spec=GenerationSpec(prompt=PROMPT, model=model, seed=seed),
    )
    last = await stream_end(queue)
    started = time.perf_counter()
    await queue.enqueue(record)
    # wait on the event stream (blocking, as the bot does): polling would steal the
    # CPU the render needs and slow the very thing being measured
    await wait_succeeded(queue, record.id, last)
    return time.perf_counter() - started


async def run(args: argparse.Namespace, redis_url: str, model_dir: Path) -> dict[str, Any]:
    models = load_models(WorkerSettings(models=(str(model_dir),)))
    (model, loaded), *_ = models.items()
    settings = QueueSettings(redis_url=redis_url, namespace=f"bench-daemon-{new_job_id()}")
    async with connect(redis_url) as redis:
        queue = JobQueue(redis, settings)
        store = RedisBlobStore.from_url(redis_url, settings.keys, ttl_seconds=600)
        # the output filter's cost is measured on its own (bench/safety.py); here, the daemon's overhead
        daemon = Daemon(queue, store, Generator(models), WorkerSettings(metrics_port=0, output_filter=False))
        serving = asyncio.create_task(daemon.run())
        times: dict[str, list[float]] = {"pipeline": [], "direct": [], "daemon": []}
        for n in range(args.warmup + args.jobs):
            seed = n
            # alternate which side goes first, so neither always runs on a warmer cache
            order = ("direct", "daemon") if n % 2 == 0 else ("daemon", "direct")
            for side in order:
                if side == "direct":
                    pipeline, seconds = await asyncio.to_thread(direct, loaded, seed)
                    if n >= args.warmup:
                        times["pipeline"].append(pipeline)
                else:
                    seconds = await through_daemon(queue, model, seed)
                if n >= args.warmup:
                    times[side].append(seconds)
        daemon.stop()
        await serving
        await store.aclose()
    p, d, q = (statistics.median(times[side]) for side in ("pipeline", "direct", "daemon"))
    return {
        "model": model.value,
        "frames": loaded.recipe.frames,
        "size": f"{loaded.recipe.width}x{loaded.recipe.height}",
        "steps": loaded.recipe.steps,
        "jobs": args.jobs,
        "pipeline_median_s": p,
        "direct_median_s": d,
        "daemon_median_s": q,
        "ratio": q / d,
        "ratio_to_bare_pipeline": q / p,
        "overhead_ms": (q - d) * 1000,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a saved pipeline directory (default: a fresh tiny one)")
    parser.add_argument("--jobs", type=int, default=20, help="timed jobs per side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed jobs per side first")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-") as tmp:
        model_dir = args.model or make_tiny_model(Path(tmp) / "tiny", ModelId.COGVIDEOX_2B)
        server = RedisServer(Path(tmp) / "redis", None).start()
        try:
            result = asyncio.run(run(args, server.url, model_dir))
        finally:
            server.stop()
    print("| model | grid | pipeline | pipeline + MP4 | daemon | daemon / (pipe + MP4) | daemon / pipeline |")
    print("|---|---|---|---|---|---|---|")
    ms = {
        k: f"{result[k] * 1000:.1f} ms" for k in ("pipeline_median_s", "direct_median_s", "daemon_median_s")
    }
    print(
        f"| {result['model']} | {result['frames']}f {result['size']} {result['steps']} steps "
        f"| {ms['pipeline_median_s']} | {ms['direct_median_s']} | {ms['daemon_median_s']} "
        f"| {result['ratio']:.3f} | {result['ratio_to_bare_pipeline']:.3f} |"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
