"""Prompt enhancement: the latency a cache hit adds to /video, and the enhancer's own cost around a
Bedrock call.

    python bench/enhance.py               # 5 interleaved repeats, Markdown tables
    python bench/enhance.py --tiny        # a few seconds, for the smoke test

Real parts: :class:`bot.enhance.Enhancer` with its boto3 client (SigV4 signing, botocore's
standard retries and parsing), a private redis-server for the cache and the allowance, and
the local Bedrock endpoint of the tests (``tests/bedrock_double.py``) on loopback, run on
its own event loop in a thread as a remote service would be.

Cache hit: ``--hits`` calls of ``Enhancer.enhance`` for a request already cached, one at a
time, each timed around its await: the digest of prompt (and image), one Redis GET and the
JSON decode. Text-only and with a 720x480 PNG (whose SHA-256 is part of the digest).

Around the call: the same Converse request made straight with boto3 on a thread (what any
caller pays: signing, HTTP, the endpoint, parsing) and through ``Enhancer.enhance`` on a
cache miss (plus instructions, the allowance INCR, cleaning, the budget check and the cache
SET; for an image, the JPEG re-encode), alternating call by call. The overhead is the
difference of the medians; both sides talk to the same endpoint in the same seconds.
Each figure is the median over repeats.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
import uuid
from typing import Any

import boto3
from PIL import Image

from bot.bedrock import BedrockClient, ClientOptions
from bot.enhance import Enhancer, EnhanceSettings, system_prompt, user_message
from inference.contract import Keys
from inference.jobqueue import connect
from inference.jobqueue.localredis import RedisServer
from tests.bedrock_double import serve_in_thread

REPLY = (
    "A honeybee with golden pollen on its legs lands on a purple coneflower in a sunlit meadow. "
    "Its wings blur as the petals sway in a warm breeze; soft morning light, one slow macro shot."
)
TARGET_HIT_P99_MS = 5.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def frame_png() -> bytes:
    out = io.BytesIO()
    # noise, so the PNG is as large as a photo's (a gradient would compress to nothing)
    Image.merge("RGB", [Image.effect_noise((720, 480), 40 + 10 * i) for i in range(3)]).save(
        out, format="PNG"
    )
    return out.getvalue()


async def timed(calls: int, call: Any) -> list[float]:
    """Milliseconds per call of ``await call(i)``."""
    spent = []
    for i in range(calls):
        started = time.perf_counter()
        await call(i)
        spent.append((time.perf_counter() - started) * 1000)
    return spent


async def bench_hits(enhancer: Enhancer, calls: int, image: bytes | None) -> dict[str, float]:
    prompt = "a bee on a flower"
    first = await enhancer.enhance("g", "u", prompt, image, 226)
    if not first.enhanced or first.cached:
        raise RuntimeError(f"the first call should have asked the endpoint: {first}")

    async def hit(_: int) -> None:
        result = await enhancer.enhance("g", "u", prompt, image, 226)
        assert result.cached

    spent = await timed(calls, hit)
    return {"p50_ms": statistics.median(spent), "p99_ms": percentile(spent, 0.99), "calls": calls}


async def bench_around(
    enhancer: Enhancer, raw: Any, calls: int, image: bytes | None, model_id: str
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    direct: list[float] = []
    through: list[float] = []
    for i in range(calls):
        prompt = f"a bee on a flower, take {uuid.uuid4().hex[:8]}"  # never cached
        request = {
            "modelId": model_id,
            "system": [{"text": system_prompt(180, image is not None)}],
            "messages": [user_message(prompt, image)],
            "inferenceConfig": {"maxTokens": 400, "temperature": 0.7},
        }
        sides = [("direct", request), ("through", prompt)]
        for side, payload in sides if i % 2 == 0 else reversed(sides):
            started = time.perf_counter()
            if side == "direct":
                response = await loop.run_in_executor(None, lambda p=payload: raw.converse(**p))
                assert response["output"]["message"]["content"][0]["text"] == REPLY
                direct.append((time.perf_counter() - started) * 1000)
            else:
                result = await enhancer.enhance("g", f"u{i}", payload, image, 226)
                if not result.enhanced or result.cached:
                    raise RuntimeError(f"expected a fresh enhancement: {result}")
                through.append((time.perf_counter() - started) * 1000)
    return {
        "calls": calls,
        "direct_p50_ms": statistics.median(direct),
        "direct_p99_ms": percentile(direct, 0.99),
        "enhancer_p50_ms": statistics.median(through),
        "enhancer_p99_ms": percentile(through, 0.99),
        "overhead_p50_ms": statistics.median(through) - statistics.median(direct),
    }


async def run(args: argparse.Namespace, redis_url: str, endpoint: str) -> dict[str, Any]:
    options = ClientOptions(endpoint_url=endpoint, region="us-east-1")
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench")
    settings = EnhanceSettings(client=options, rate=1_000_000)
    raw = session.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=boto3.session.Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    image = frame_png()
    repeats: list[dict[str, Any]] = []
    async with connect(redis_url) as redis:
        for _ in range(args.repeats):
            keys = Keys(f"bench-{uuid.uuid4().hex[:8]}")
            client = await BedrockClient.connect(options, session)
            enhancer = Enhancer(settings, redis, keys, client)
            try:
                repeats.append(
                    {
                        "hit_text": await bench_hits(enhancer, args.hits, None),
                        "hit_image": await bench_hits(enhancer, args.hits, image),
                        "around_text": await bench_around(enhancer, raw, args.calls, None, settings.model_id),
                        "around_image": await bench_around(
                            enhancer, raw, args.calls, image, settings.model_id
                        ),
                    }
                )
            finally:
                client.close()
                batch = [k async for k in redis.scan_iter(match=f"{keys.prefix}*", count=1000)]
                if batch:
                    await redis.delete(*batch)
    return summarise(repeats, args, len(image))


def summarise(repeats: list[dict[str, Any]], args: argparse.Namespace, image_bytes: int) -> dict[str, Any]:
    def median(section: str, field: str) -> float:
        return statistics.median(r[section][field] for r in repeats)

    result: dict[str, Any] = {"repeats": args.repeats, "image_png_bytes": image_bytes, "runs": repeats}
    for section in ("hit_text", "hit_image", "around_text", "around_image"):
        fields = [k for k in repeats[0][section] if k != "calls"]
        result[section] = {f"median_{k}": median(section, k) for k in fields}
        result[section]["calls"] = repeats[0][section]["calls"]
    worst = max(result["hit_text"]["median_p99_ms"], result["hit_image"]["median_p99_ms"])
    result["target"] = {
        "hit_p99_ms": TARGET_HIT_P99_MS,
        "worst_hit_p99_ms": worst,
        "met": worst < TARGET_HIT_P99_MS,
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Median of {result['repeats']} repeats.",
        "",
        "| cache hit | calls | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, section in (
        ("text", "hit_text"),
        (f"with a {result['image_png_bytes'] // 1024} KiB PNG", "hit_image"),
    ):
        row = result[section]
        lines.append(f"| {name} | {row['calls']} | {row['median_p50_ms']:.2f} | {row['median_p99_ms']:.2f} |")
    target = result["target"]
    lines += [
        "",
        f"Target: cache-hit p99 under {target['hit_p99_ms']:.0f} ms: "
        f"{'met' if target['met'] else 'NOT met'} (worst {target['worst_hit_p99_ms']:.2f} ms).",
        "",
        "| request | calls | boto3 direct p50 ms | p99 ms | through Enhancer p50 ms | p99 ms "
        "| overhead p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, section in (("text", "around_text"), ("with the image", "around_image")):
        row = result[section]
        lines.append(
            f"| {name} | {row['calls']} | {row['median_direct_p50_ms']:.2f} "
            f"| {row['median_direct_p99_ms']:.2f} | {row['median_enhancer_p50_ms']:.2f} "
            f"| {row['median_enhancer_p99_ms']:.2f} "
            f"| {row['median_overhead_p50_ms']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs (medians reported)")
    parser.add_argument("--hits", type=int, default=2000, help="cache hits timed per run and kind")
    parser.add_argument("--calls", type=int, default=200, help="Bedrock calls per side, run and kind")
    parser.add_argument("--tiny", action="store_true", help="a few seconds' run for CI")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.tiny:
        args.repeats, args.hits, args.calls = 1, 50, 10
    with tempfile.TemporaryDirectory() as scratch, serve_in_thread() as double:
        double.default_text = REPLY
        server = RedisServer(Path(scratch) / "redis").start()
        try:
            result = asyncio.run(run(args, server.url, double.endpoint_url))
        finally:
            server.stop()
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
